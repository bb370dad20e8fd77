// Package testpeers starts the real programs that credbroker's integration
// tests run against: a MinIO server (STS AssumeRole with session policies, and
// an S3 API that enforces them), AWS's ec2-metadata-mock (IMDSv2), the AWS CLI
// v2, boto3 and PostgreSQL. No one on the project wrote these peers, which is
// the point: they check that credbroker honours the wire contracts of the AWS
// SDKs rather than its own idea of them.
//
// scripts/deps installs the peers and writes their paths to peers.env in the
// cache directory; this package reads that file (see [PeersEnvVar]), starts
// each server on free loopback ports inside t.TempDir(), captures its output
// to a log file whose tail is printed when the test fails, and stops it in
// t.Cleanup. A peer that is missing fails the test with a message that says to
// run scripts/deps: the tests never skip because a peer is absent.
//
// Beside the peers it holds the small stand-ins the tests put in their
// way: a counting proxy in front of STS ([StartCountingProxy]) and TCP
// peers that hang or hang up ([BlackHole], [HangUp], [TCPPeer]).
//
// The package is meant for tests only; it reads the environment at the first
// call that needs it, never in init.
package testpeers
