// Package e2e holds credbroker's end-to-end tests: the credbroker binary
// driven against the real peers (MinIO's STS and S3, AWS's
// ec2-metadata-mock, the AWS CLI v2, boto3, PostgreSQL), all on loopback.
// Every byte the processes of a test write is collected and searched for
// the test's secret values, raw, base64 and URL-encoded.
package e2e
