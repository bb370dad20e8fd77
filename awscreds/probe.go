package awscreds

import (
	"context"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/credbroker/credbroker"
)

// InstanceRole asks the instance metadata service of an instance source,
// with IMDSv2 only (a token PUT, then the role list), which role the
// instance profile names. The endpoint is src.IMDSEndpoint, else
// AWS_EC2_METADATA_SERVICE_ENDPOINT (through Options.LookupEnv), else
// DefaultIMDSEndpoint; InstanceRole returns it with the role. A metadata
// service that refuses the IMDSv2 token, or lists no role, is an error
// like Resolve's provider gives: `credbroker check` calls it before it
// fetches credentials, to say which of the two steps fails.
func InstanceRole(ctx context.Context, src credbroker.Source, opts Options) (role, endpoint string, err error) {
	endpoint, from := imdsEndpoint(src, opts)
	if from == FromDefault {
		from = "imds_endpoint"
	}
	if err := checkEndpoint(from, endpoint); err != nil {
		return "", endpoint, err
	}
	client := newIMDSClient(endpoint, false, src.Retry, opts)
	o := origin{field: "instance", imds: true, endpoint: endpoint}
	out, err := client.GetMetadata(ctx, &imds.GetMetadataInput{Path: "iam/security-credentials/"})
	if err != nil {
		return "", endpoint, translate(err, o)
	}
	defer out.Content.Close()
	body, err := io.ReadAll(io.LimitReader(out.Content, 4<<10))
	if err != nil {
		return "", endpoint, translate(err, o)
	}
	role, _, _ = strings.Cut(strings.TrimSpace(string(body)), "\n")
	role = strings.TrimSpace(role)
	if role == "" {
		return "", endpoint, noProfile(o)
	}
	return role, endpoint, nil
}
