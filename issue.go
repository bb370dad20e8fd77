package credbroker

import (
	"context"
	"time"
)

// IssueRequest asks for one set of credentials on the broker side: an STS
// call with a connector's base credentials, or, for provided keys, none.
// Package awscreds carries it out.
type IssueRequest struct {
	Principal PrincipalType
	Region    string
	// STSEndpoints overrides the regional endpoint; the first is primary,
	// the rest are tried in order when it cannot be reached.
	STSEndpoints []string
	// Base yields the credentials the STS call is signed with (or, for
	// PrincipalProvided, the credentials handed out).
	Base Provider
	// BaseIsRoleSession says the base credentials are themselves a role
	// session, so AssumeRole is role chaining and capped at one hour.
	BaseIsRoleSession bool

	RoleARN           string
	ExternalID        string
	SessionName       string
	SourceIdentity    string
	FederatedName     string
	Duration          time.Duration
	Policy            string
	PolicyARNs        []string
	Tags              []Tag
	TransitiveTagKeys []string
	Retry             RetrySpec
	// BeforeAttempt, when set, is called before each STS attempt (the
	// first and every retry, at every endpoint); an error ends the call
	// with that error and nothing is sent. The broker keeps its calls
	// within a rate budget with it.
	BeforeAttempt func(ctx context.Context) error
	// NeedAccount asks for the account of the credentials issued
	// (Credentials.AccountID): from the ARN STS returns with them, else
	// from GetCallerIdentity at the endpoint that issued them; an STS
	// that cannot say makes the issue fail. An account guard needs it.
	NeedAccount bool
}
