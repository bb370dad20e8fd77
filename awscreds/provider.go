package awscreds

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/credbroker/credbroker"
)

// sdkProvider adapts an SDK credentials provider to credbroker.Provider.
// It calls the SDK provider's Retrieve directly on every call: no cache and
// no expiry extension here (the caller wraps the result in its own cache),
// so credentials that have expired are never handed out as valid.
// HostChain turns the broker host's own SDK credential chain (package
// hostchain loads it: environment, shared config and credentials files,
// SSO, container and instance credentials) into a credbroker.Provider.
// Its errors are translated like every other, blamed on the field "base".
// The chain comes with the SDK's own cache, which for instance profile
// credentials may extend credentials briefly when the metadata service
// fails; the provider returned still refuses credentials that have
// expired by Options.Now.
func (is *Issuer) HostChain(p aws.CredentialsProvider) credbroker.Provider {
	return &sdkProvider{p: p, source: "default", origin: origin{field: "base", chain: true}, now: is.now}
}

type sdkProvider struct {
	p      aws.CredentialsProvider
	source string // credbroker.Credentials.Source
	origin origin
	now    func() time.Time
}

// Retrieve implements credbroker.Provider.
func (s *sdkProvider) Retrieve(ctx context.Context) (credbroker.Credentials, error) {
	c, err := s.p.Retrieve(ctx)
	if err != nil {
		o := s.origin
		o.callerEnded = ctx.Err() != nil
		return credbroker.Credentials{}, translate(err, o)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || (c.CanExpire && c.Expires.IsZero()) {
		// A malformed answer (ec2rolecreds passes one on): never usable,
		// and without an expiry it would pass for long-lived keys.
		return credbroker.Credentials{}, credbroker.Errorf(credbroker.CodeUpstream, s.origin.field,
			"%s answered without complete credentials", s.origin.service()).
			WithFix("check that the endpoint is what it should be; the answer was not used")
	}
	out := credbroker.Credentials{
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		SessionToken:    c.SessionToken,
		Source:          s.source,
		AccountID:       c.AccountID,
	}
	if c.CanExpire {
		out.Expires = c.Expires
	}
	now := s.now()
	if !s.origin.chain {
		// Fresh from IMDS or STS: expired or nearly expired means clock skew.
		if err := checkLifetime(out, now, s.origin.field, s.origin.service(), 0); err != nil {
			return credbroker.Credentials{}, err
		}
		return out, nil
	}
	if out.Expired(now) {
		return credbroker.Credentials{}, credbroker.Errorf(credbroker.CodeUpstream, s.origin.field,
			"%s returned credentials (%s) that expired at %s", s.origin.service(), credbroker.MaskKeyID(out.AccessKeyID),
			out.Expires.UTC().Format(time.RFC3339)).
			WithFix("check the clock of this host; the credential source may be serving stale credentials")
	}
	return out, nil
}

// awsProvider adapts a credbroker.Provider to the SDK, to sign STS calls
// with it. Errors pass through unchanged (they are already domain errors).
type awsProvider struct{ p credbroker.Provider }

// Retrieve implements aws.CredentialsProvider.
func (a awsProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := a.p.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	return aws.Credentials{
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		SessionToken:    c.SessionToken,
		Source:          c.Source,
		CanExpire:       c.CanExpire(),
		Expires:         c.Expires,
	}, nil
}
