// Package awscreds is credbroker's only importer of the AWS SDK. It turns
// credential sources and connector requests into credentials:
//
//   - partitions (LookupRegion, ResolveRegion): the region decides the
//     partition, its regional STS endpoint (sts.REGION.DNSSUFFIX) and its
//     console sign-in hosts;
//   - ARN and limit checks (CheckRoleARN, CheckPolicyARNs, CheckDuration),
//     made before any network call, so that a role ARN of another partition
//     than the region fails at once with a message naming both;
//   - the agent side: a source's Plan (Decide), the decisions made before
//     any call (region, partition, endpoints, role chaining, the clamped
//     duration, warnings), which `credbroker check` reports and Resolve
//     acts on: static keys or the instance profile (IMDSv2), optionally
//     followed by AssumeRole;
//   - the broker side (Issuer): AssumeRole, GetFederationToken,
//     GetSessionToken or provided keys, with fallback STS endpoints;
//   - console sign-in URLs (SigninURL).
//
// Every error it returns is a *credbroker.Error with a code, the input at
// fault and a fix; SDK errors are translated in one place and kept as the
// cause. No error or log line holds a secret key, session token or sign-in
// URL; access key IDs appear only masked.
//
// The environment is read only through Options.LookupEnv; the broker
// host's own configuration is loaded by package hostchain, and handed to
// Issuer.HostChain. Providers returned here do not cache: each Retrieve calls
// STS or the metadata service, and the caller wraps them in its cache.
//
// Retries use the SDK's standard retryer (full-jitter exponential backoff)
// with DefaultMaxAttempts and DefaultMaxBackoff unless a
// credbroker.RetrySpec says otherwise.
package awscreds
