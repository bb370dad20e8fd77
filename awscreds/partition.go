package awscreds

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/credbroker/credbroker"
)

// Partition is an AWS partition: a group of regions with its own DNS
// suffix, ARN partition name, IAM and sign-in. The zero value is not a
// partition; LookupRegion and ResolveRegion return them.
type Partition struct {
	// ID is the ARN partition name: "aws", "aws-cn", "aws-us-gov", ...
	ID string
	// DNSSuffix is the suffix of the partition's regional endpoints.
	DNSSuffix string
	// SigninHost serves the federation endpoint (/federation) that turns
	// temporary credentials into a console sign-in token.
	SigninHost string
	// ConsoleHost is the AWS Management Console; empty where it is not
	// known (the isolated partitions), in which case a console sign-in
	// needs an explicit destination.
	ConsoleHost string
	// Region is the region the partition was looked up for; empty in
	// Partitions.
	Region string

	regions []string
	pattern string // a regular expression, compiled on first use (patterns)
}

// STSHost returns the host name of the regional STS endpoint of p.Region:
// sts.REGION.DNSSUFFIX, such as sts.eu-west-1.amazonaws.com or
// sts.cn-north-1.amazonaws.com.cn.
func (p Partition) STSHost() string { return "sts." + p.Region + "." + p.DNSSuffix }

// STSEndpoint returns the URL of the regional STS endpoint of p.Region.
func (p Partition) STSEndpoint() string { return "https://" + p.STSHost() }

// FederationEndpoint returns the URL of the partition's federation
// endpoint, or "" when the partition has no known sign-in host.
func (p Partition) FederationEndpoint() string {
	if p.SigninHost == "" {
		return ""
	}
	return "https://" + p.SigninHost + "/federation"
}

// ConsoleURL returns the console's home URL, or "" when it is not known.
func (p Partition) ConsoleURL() string {
	if p.ConsoleHost == "" {
		return ""
	}
	return "https://" + p.ConsoleHost + "/"
}

// The partitions, with the regions and region patterns of the AWS SDK's
// partition data (aws-sdk-go-v2 internal/endpoints/awsrulesfn/
// partitions.json). Sign-in hosts follow the SDK's signin service
// endpoints; console hosts are given for aws, aws-cn and aws-us-gov only.
// The SDK's pseudo-regions ("aws-global" and the like) are left out: they
// name no STS region.
var partitions = []Partition{
	{
		ID: "aws", DNSSuffix: "amazonaws.com",
		SigninHost: "signin.aws.amazon.com", ConsoleHost: "console.aws.amazon.com",
		regions: []string{
			"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2",
			"ap-northeast-3", "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2",
			"ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6",
			"ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2",
			"eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
			"il-central-1", "me-central-1", "me-south-1", "me-west-1", "mx-central-1",
			"sa-east-1", "sa-west-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
		},
		pattern: `^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$`,
	},
	{
		ID: "aws-cn", DNSSuffix: "amazonaws.com.cn",
		SigninHost: "signin.amazonaws.cn", ConsoleHost: "console.amazonaws.cn",
		regions: []string{"cn-north-1", "cn-northwest-1"},
		pattern: `^cn-\w+-\d+$`,
	},
	{
		ID: "aws-us-gov", DNSSuffix: "amazonaws.com",
		SigninHost: "signin.amazonaws-us-gov.com", ConsoleHost: "console.amazonaws-us-gov.com",
		regions: []string{"us-gov-east-1", "us-gov-west-1"},
		pattern: `^us-gov-\w+-\d+$`,
	},
	{
		ID: "aws-iso", DNSSuffix: "c2s.ic.gov",
		SigninHost: "signin.c2shome.ic.gov",
		regions:    []string{"us-iso-east-1", "us-iso-west-1"},
		pattern:    `^us-iso-\w+-\d+$`,
	},
	{
		ID: "aws-iso-b", DNSSuffix: "sc2s.sgov.gov",
		SigninHost: "signin.sc2shome.sgov.gov",
		regions:    []string{"us-isob-east-1", "us-isob-west-1"},
		pattern:    `^us-isob-\w+-\d+$`,
	},
	{
		ID: "aws-iso-e", DNSSuffix: "cloud.adc-e.uk",
		SigninHost: "signin.csphome.adc-e.uk",
		regions:    []string{"eu-isoe-west-1"},
		pattern:    `^eu-isoe-\w+-\d+$`,
	},
	{
		ID: "aws-iso-f", DNSSuffix: "csp.hci.ic.gov",
		SigninHost: "signin.csphome.hci.ic.gov",
		regions:    []string{"us-isof-east-1", "us-isof-south-1"},
		pattern:    `^us-isof-\w+-\d+$`,
	},
	{
		ID: "aws-eusc", DNSSuffix: "amazonaws.eu",
		SigninHost: "signin.amazonaws-eusc.eu",
		regions:    []string{"eusc-de-east-1"},
		pattern:    `^eusc-(de)-\w+-\d+$`,
	},
}

// patterns are the partitions' region patterns, compiled the first time a
// region is not in any partition's list, rather than at start-up.
var patterns = sync.OnceValue(func() []*regexp.Regexp {
	out := make([]*regexp.Regexp, len(partitions))
	for i, p := range partitions {
		out[i] = regexp.MustCompile(p.pattern)
	}
	return out
})

// Partitions returns the partitions this package knows, in a fixed order.
func Partitions() []Partition {
	out := make([]Partition, len(partitions))
	for i, p := range partitions {
		p.regions, p.pattern = nil, ""
		out[i] = p
	}
	return out
}

func partitionIDs() string {
	ids := make([]string, len(partitions))
	for i, p := range partitions {
		ids[i] = p.ID
	}
	return strings.Join(ids, ", ")
}

func partitionByID(id string) (Partition, bool) {
	for _, p := range partitions {
		if p.ID == id {
			p.regions, p.pattern = nil, ""
			return p, true
		}
	}
	return Partition{}, false
}

// LookupRegion returns the partition of region, with Region set. Like the
// SDK, it tries every partition's list of regions first and then the
// partitions' region patterns, so that a region launched after this code
// was written still resolves. An unknown region is a CodeInvalid error
// naming the region and the known partitions.
func LookupRegion(region string) (Partition, error) {
	if p, ok := lookup(region); ok {
		return p, nil
	}
	if region == "" {
		return Partition{}, credbroker.Errorf(credbroker.CodeInvalid, "region", "no region is set").
			WithFix("set the region (for example us-east-1), or AWS_REGION")
	}
	return Partition{}, credbroker.Errorf(credbroker.CodeInvalid, "region",
		"region %q is not in any known partition (%s)", region, partitionIDs()).
		WithFix("check the region's spelling (for example eu-west-1), or give an explicit STS endpoint for a region this version does not know")
}

func lookup(region string) (Partition, bool) {
	p, _, ok := lookupListed(region)
	return p, ok
}

// lookupListed is lookup that also tells whether the region is listed, or
// only matches a partition's pattern.
func lookupListed(region string) (p Partition, listed, ok bool) {
	for _, p := range partitions {
		if slices.Contains(p.regions, region) {
			p.regions, p.pattern, p.Region = nil, "", region
			return p, true, true
		}
	}
	for i, p := range partitions {
		if patterns()[i].MatchString(region) {
			p.regions, p.pattern, p.Region = nil, "", region
			return p, false, true
		}
	}
	return Partition{}, false, false
}

// ResolveRegion is LookupRegion for a caller that may have an explicit STS
// endpoint. With an endpoint, an unknown region is accepted (a private or
// test STS such as MinIO, or a region this version does not know): the
// partition is "aws", and warning says so. Without one, an unknown region
// is the error LookupRegion gives. A region known only by its partition's
// pattern (a new region, or a typo) also comes with a warning. The
// endpoint must be an http or https URL.
func ResolveRegion(region, stsEndpoint string) (p Partition, warning string, err error) {
	if stsEndpoint != "" {
		if err := checkEndpoint("sts_endpoint", stsEndpoint); err != nil {
			return Partition{}, "", err
		}
	}
	if p, listed, ok := lookupListed(region); ok {
		if !listed {
			warning = fmt.Sprintf("region %q is not in this version's list of regions; partition %q is assumed from its name (check the spelling if STS cannot be reached)", region, p.ID)
		}
		return p, warning, nil
	}
	if stsEndpoint == "" || region == "" {
		p, err := LookupRegion(region)
		return p, "", err
	}
	p, _ = partitionByID("aws")
	p.Region = region
	return p, fmt.Sprintf("region %q is not in any known partition; assuming partition \"aws\" because the STS endpoint is given explicitly", region), nil
}

// checkEndpoint requires an absolute http or https URL with a host.
func checkEndpoint(field, endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		shown := fmt.Sprintf("%q", endpoint)
		if strings.Contains(endpoint, "@") {
			shown = "the URL given" // may hold a password: not repeated
		}
		return credbroker.Errorf(credbroker.CodeInvalid, field, "%s is not an http or https URL", shown).
			WithFix("give a URL such as https://sts.example.com or http://127.0.0.1:9000")
	}
	if u.User != nil {
		return credbroker.Errorf(credbroker.CodeInvalid, field, "the endpoint URL must not hold a user name or password")
	}
	return nil
}
