package awscreds

import (
	"context"
	"errors"

	"github.com/credbroker/credbroker"
)

// GuardAccount returns p behind an account guard: every set of
// credentials p yields must belong to one of the accounts in allowed, or
// Retrieve fails with an error naming both (credbroker.CheckAccount) and
// the credentials go no further. With allowed empty, p is returned as it
// is.
//
// The account is the one the credentials carry (Credentials.AccountID,
// which Resolve and Issue take from the ARN STS returns with a session),
// else the one GetCallerIdentity names when asked with them, of the STS
// of region at endpoint ("" for AWS_ENDPOINT_URL_STS or AWS_ENDPOINT_URL
// through Options.LookupEnv, else the region's regional endpoint). When
// neither can say (MinIO's STS returns no ARN and offers no
// GetCallerIdentity), the credentials are refused: a guard that cannot
// see the account lets nothing through. Put the guard inside the cache
// (package credcache), so that GetCallerIdentity is asked once per set of
// credentials, not once per Retrieve.
func GuardAccount(p credbroker.Provider, allowed []string, region, endpoint string, opts Options) credbroker.Provider {
	if len(allowed) == 0 {
		return p
	}
	return &accountGuard{p: p, allowed: allowed, region: region, endpoint: endpoint, is: &Issuer{Options: opts}}
}

type accountGuard struct {
	p                credbroker.Provider
	allowed          []string
	region, endpoint string
	is               *Issuer
}

// Retrieve implements credbroker.Provider.
func (g *accountGuard) Retrieve(ctx context.Context) (credbroker.Credentials, error) {
	cr, err := g.p.Retrieve(ctx)
	if err != nil {
		return cr, err
	}
	if cr.AccountID == "" {
		endpoint := g.endpoint
		if endpoint == "" {
			endpoint, _ = g.is.envSTSEndpoint()
		}
		if cr.AccountID, err = g.is.learnAccount(ctx, cr, g.region, endpoint, nil); err != nil {
			return credbroker.Credentials{}, err
		}
	}
	if err := credbroker.CheckAccount(credbroker.FieldAllowedAccounts, g.allowed, cr.AccountID, "the credentials"); err != nil {
		return credbroker.Credentials{}, err
	}
	return cr, nil
}

// learnAccount asks GetCallerIdentity, of the STS of region at endpoint
// ("" for the regional one), whose cr are, for an account guard; before
// is called before each attempt. Every failure is an error of the guard's
// field: the credentials are not to be used.
func (is *Issuer) learnAccount(ctx context.Context, cr credbroker.Credentials, region, endpoint string, before func(context.Context) error) (string, error) {
	if endpoint == "" {
		if part, _, err := ResolveRegion(region, ""); err == nil {
			endpoint = part.STSEndpoint()
		}
	}
	held := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) { return cr, nil })
	account, _, err := is.callerIdentity(ctx, region, endpoint, held, before)
	switch {
	case errors.Is(err, ErrIdentityUnavailable):
		return "", credbroker.Errorf(credbroker.CodeUnprocessable, credbroker.FieldAllowedAccounts,
			"the account of the credentials is not known: STS gave them without an ARN, and the STS at %s offers no GetCallerIdentity; they were not used", endpoint).
			WithFix("use an STS that names the account (AWS STS does), or remove the account guard for this source").
			WithCause(err)
	case err != nil:
		msg, code := err.Error(), credbroker.CodeUpstream
		if e := credbroker.AsError(err); e != nil {
			msg, code = e.Message, e.Code
		}
		return "", credbroker.Errorf(code, credbroker.FieldAllowedAccounts,
			"the account of the credentials could not be learned with GetCallerIdentity, so they were not used: %s", msg).WithCause(err)
	case !credbroker.ValidAccountID(account):
		return "", credbroker.Errorf(credbroker.CodeUpstream, credbroker.FieldAllowedAccounts,
			"GetCallerIdentity named no valid account for the credentials, so they were not used").
			WithFix("check that the STS endpoint is what it should be")
	}
	return account, nil
}
