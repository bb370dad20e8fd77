package awscreds

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/credbroker/credbroker"
)

func TestLookupRegion(t *testing.T) {
	tests := []struct {
		region, id, sts, signin, console string
	}{
		{"us-east-1", "aws", "sts.us-east-1.amazonaws.com", "signin.aws.amazon.com", "console.aws.amazon.com"},
		{"eu-west-1", "aws", "sts.eu-west-1.amazonaws.com", "signin.aws.amazon.com", "console.aws.amazon.com"},
		{"ap-southeast-7", "aws", "sts.ap-southeast-7.amazonaws.com", "signin.aws.amazon.com", "console.aws.amazon.com"},
		{"eu-central-9", "aws", "sts.eu-central-9.amazonaws.com", "signin.aws.amazon.com", "console.aws.amazon.com"}, // by pattern
		{"cn-north-1", "aws-cn", "sts.cn-north-1.amazonaws.com.cn", "signin.amazonaws.cn", "console.amazonaws.cn"},
		{"cn-northwest-1", "aws-cn", "sts.cn-northwest-1.amazonaws.com.cn", "signin.amazonaws.cn", "console.amazonaws.cn"},
		{"us-gov-west-1", "aws-us-gov", "sts.us-gov-west-1.amazonaws.com", "signin.amazonaws-us-gov.com", "console.amazonaws-us-gov.com"},
		{"us-gov-east-1", "aws-us-gov", "sts.us-gov-east-1.amazonaws.com", "signin.amazonaws-us-gov.com", "console.amazonaws-us-gov.com"},
		{"us-iso-east-1", "aws-iso", "sts.us-iso-east-1.c2s.ic.gov", "signin.c2shome.ic.gov", ""},
		{"us-isob-east-1", "aws-iso-b", "sts.us-isob-east-1.sc2s.sgov.gov", "signin.sc2shome.sgov.gov", ""},
		{"eu-isoe-west-1", "aws-iso-e", "sts.eu-isoe-west-1.cloud.adc-e.uk", "signin.csphome.adc-e.uk", ""},
		{"us-isof-south-1", "aws-iso-f", "sts.us-isof-south-1.csp.hci.ic.gov", "signin.csphome.hci.ic.gov", ""},
		{"eusc-de-east-1", "aws-eusc", "sts.eusc-de-east-1.amazonaws.eu", "signin.amazonaws-eusc.eu", ""},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			p, err := LookupRegion(tt.region)
			if err != nil {
				t.Fatal(err)
			}
			if p.ID != tt.id || p.STSHost() != tt.sts || p.SigninHost != tt.signin || p.ConsoleHost != tt.console || p.Region != tt.region {
				t.Errorf("got %s %s %s %s %s", p.ID, p.STSHost(), p.SigninHost, p.ConsoleHost, p.Region)
			}
			if p.STSEndpoint() != "https://"+tt.sts {
				t.Errorf("STSEndpoint = %s", p.STSEndpoint())
			}
		})
	}
}

func TestLookupRegionUnknown(t *testing.T) {
	for _, region := range []string{"mars-east-1", "us-east", "US-EAST-1", "aws-global", "us-east-1 ", "cn-north"} {
		_, err := LookupRegion(region)
		e := wantError(t, err, credbroker.CodeInvalid, "region", region)
		if !strings.Contains(e.Message, "aws, aws-cn, aws-us-gov, aws-iso") {
			t.Errorf("%s: message does not list the partitions: %s", region, e.Message)
		}
	}
	_, err := LookupRegion("")
	wantError(t, err, credbroker.CodeInvalid, "region", "no region")
}

// TestSTSHostsMatchSDK compares the hosts derived here with the STS
// endpoints the SDK's own endpoint rules give for every listed region.
func TestSTSHostsMatchSDK(t *testing.T) {
	resolver := sts.NewDefaultEndpointResolverV2()
	for _, p := range partitions {
		for _, region := range p.regions {
			ep, err := resolver.ResolveEndpoint(context.Background(), sts.EndpointParameters{Region: aws.String(region)})
			if err != nil {
				t.Fatalf("%s: %v", region, err)
			}
			got, err := LookupRegion(region)
			if err != nil {
				t.Fatal(err)
			}
			if ep.URI.Host != got.STSHost() {
				t.Errorf("%s: SDK says %s, we say %s", region, ep.URI.Host, got.STSHost())
			}
		}
	}
}

func TestResolveRegion(t *testing.T) {
	p, warning, err := ResolveRegion("eu-west-1", "")
	if err != nil || p.ID != "aws" || warning != "" {
		t.Fatalf("known region: %v %q %v", p, warning, err)
	}
	p, warning, err = ResolveRegion("minio-local", "http://127.0.0.1:9000")
	if err != nil || p.ID != "aws" || p.Region != "minio-local" || !strings.Contains(warning, "minio-local") {
		t.Fatalf("unknown region with endpoint: %v %q %v", p, warning, err)
	}
	p, warning, err = ResolveRegion("cn-north-1", "http://127.0.0.1:9000")
	if err != nil || p.ID != "aws-cn" || warning != "" {
		t.Fatalf("known region with endpoint: %v %q %v", p, warning, err)
	}
	_, _, err = ResolveRegion("minio-local", "")
	wantError(t, err, credbroker.CodeInvalid, "region", "minio-local")
	_, _, err = ResolveRegion("us-east-1", "ftp://x")
	wantError(t, err, credbroker.CodeInvalid, "sts_endpoint", "not an http or https URL")
	_, _, err = ResolveRegion("us-east-1", "https://user:pw@example.com")
	e := wantError(t, err, credbroker.CodeInvalid, "sts_endpoint", "user name or password")
	if strings.Contains(e.Error(), "pw") {
		t.Fatalf("password repeated: %s", e)
	}
	_, _, err = ResolveRegion("us-east-1", "::not a url@pw")
	e = wantError(t, err, credbroker.CodeInvalid, "sts_endpoint", "not an http or https URL")
	if strings.Contains(e.Error(), "pw") {
		t.Fatalf("URL with @ repeated: %s", e)
	}
}

func TestPartitionsCopy(t *testing.T) {
	ps := Partitions()
	if len(ps) != 8 || ps[0].ID != "aws" {
		t.Fatalf("Partitions = %v", ps)
	}
	ps[0].ID = "changed"
	if p, _ := LookupRegion("us-east-1"); p.ID != "aws" {
		t.Fatal("Partitions exposes the table")
	}
}

func BenchmarkLookupRegion(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LookupRegion("eu-central-9"); err != nil {
			b.Fatal(err)
		}
	}
}
