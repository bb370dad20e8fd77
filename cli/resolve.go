package cli

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
	"github.com/credbroker/credbroker/citoken"
	"github.com/credbroker/credbroker/credcache"
	"github.com/credbroker/credbroker/httpapi"
	"github.com/credbroker/credbroker/policy"
	"github.com/credbroker/credbroker/taskrun"
)

// resolver wires each source kind to its provider, behind a cache that
// refreshes before expiry and never serves expired credentials.
func (a *app) resolver() taskrun.Resolver {
	return func(ctx context.Context, src credbroker.Source, b credbroker.Build) (*credbroker.Resolved, error) {
		log, err := a.logger(a.hide.writer(a.io.Stderr))
		if err != nil {
			return nil, err
		}
		if src.Kind == credbroker.SourceConnector {
			return a.resolveConnector(ctx, src, b)
		}
		opts := awscreds.Options{LookupEnv: a.getenv, Logger: log}
		seen := &seenTokens{}
		if src.Kind == credbroker.SourceWebIdentity {
			if src.OIDC != "" {
				if opts.IdentityToken, err = a.idToken("oidc", src, seen); err != nil {
					return nil, err
				}
			} else {
				// The token file, read by awscreds at each refresh.
				opts.IdentityTokenRead = func(tok string) { a.hide.add(tok); seen.add(tok) }
			}
		}
		res, err := awscreds.Resolve(ctx, src, b, opts)
		if err != nil {
			return nil, err
		}
		if src.Kind == credbroker.SourceWebIdentity {
			res.Secrets = seen.list
		}
		res.Provider = credcache.New(res.Provider, credcache.Options{
			OnRefreshError: func(err error) {
				log.Warn("refreshing credentials failed; still serving the current ones", "err", credbroker.PublicMessage(err))
			},
		})
		return res, nil
	}
}

// brokerClient builds a client of the broker at rawURL; a plain http URL
// to another host is a warning on stderr.
func (a *app) brokerClient(rawURL, token, caFile string) (*httpapi.Client, error) {
	return a.brokerClientWith(rawURL, token, caFile, nil)
}

// brokerClientWith is brokerClient with a source of a fresh bearer for
// each request (a CI's ID token) instead of a fixed token, when set.
func (a *app) brokerClientWith(rawURL, token, caFile string, source func(ctx context.Context) (string, error)) (*httpapi.Client, error) {
	w, err := httpapi.CheckBrokerURL(rawURL)
	if err != nil {
		return nil, err
	}
	if w != nil {
		fmt.Fprintf(a.io.Stderr, "credbroker: warning: %s\n", w)
	}
	return httpapi.NewClient(rawURL, httpapi.ClientOptions{Token: token, TokenSource: source, CAFile: caFile, UserAgent: userAgent()})
}

// userAgent is what credbroker says it is to the broker.
func userAgent() string { return "credbroker/" + Version }

// idToken returns the CI token source src names (src.OIDC), fetching a
// fresh token at each call; every token it yields (and GitHub's request
// token) is masked in credbroker's own messages from then on, and kept in
// seen for the masks of the task's output.
func (a *app) idToken(field string, src credbroker.Source, seen *seenTokens) (func(ctx context.Context) (string, error), error) {
	ts, err := citoken.New(field, src.OIDC, src.Audience, citoken.Options{LookupEnv: a.getenv})
	if err != nil {
		return nil, err
	}
	a.hide.add(a.env(citoken.EnvGitHubToken))
	seen.add(a.env(citoken.EnvGitHubToken))
	return func(ctx context.Context) (string, error) {
		tok, err := ts.Token(ctx)
		if err == nil {
			a.hide.add(tok)
			seen.add(tok)
		}
		return tok, err
	}, nil
}

// seenTokens are the ID tokens (and GitHub's request token) a source
// obtained, for the masks of the task's output (Resolved.Secrets).
type seenTokens struct {
	mu   sync.Mutex
	vals []string
}

func (s *seenTokens) add(v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.vals, v) {
		s.vals = append(s.vals, v)
	}
}

// list returns the tokens seen so far.
func (s *seenTokens) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.vals)
}

// vendRequest is the vend a connector source asks for: its build, its
// tags, and the narrowing of its duration and policies (src.Role), which
// the broker refuses when they would widen the connector's.
func vendRequest(src credbroker.Source, b credbroker.Build) credbroker.VendRequest {
	return credbroker.VendRequest{
		Connector: src.Connector, Plan: b.Plan, Build: b.Number, Job: b.Job, Task: b.Task, Tags: src.Tags,
		DurationSeconds: int(src.Role.Duration / time.Second), Policy: src.Role.Policy, PolicyARNs: src.Role.PolicyARNs,
	}
}

// resolveConnector vends once now, to learn the region and fail early, and
// returns a provider that vends again when the cache needs a refresh,
// behind the source's account guard (the account the broker names, else
// GetCallerIdentity). With src.OIDC, each vend presents a fresh ID token
// of the CI instead of an agent token.
func (a *app) resolveConnector(ctx context.Context, src credbroker.Source, b credbroker.Build) (*credbroker.Resolved, error) {
	if err := credbroker.CheckAccountIDs(credbroker.FieldAllowedAccounts, src.AllowedAccountIDs); err != nil {
		return nil, err
	}
	var source func(ctx context.Context) (string, error)
	seen := &seenTokens{}
	if src.OIDC != "" {
		var err error
		if source, err = a.idToken("oidc", src, seen); err != nil {
			return nil, err
		}
	}
	client, err := a.brokerClientWith(src.Broker, src.Token, src.CAFile, source)
	if err != nil {
		return nil, err
	}
	if src.Role.Policy != "" {
		if src.Role.Policy, err = policy.Validate("policy_file", src.Role.Policy); err != nil {
			return nil, err
		}
	}
	req := vendRequest(src, b)
	first, err := client.Vend(ctx, req)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	vend := client.Provider(req)
	p := credbroker.ProviderFunc(func(ctx context.Context) (credbroker.Credentials, error) {
		var cr credbroker.Credentials
		used := false
		once.Do(func() { cr, used = first.Credentials(), true })
		if used {
			return cr, nil
		}
		return vend.Retrieve(ctx)
	})
	guarded := awscreds.GuardAccount(p, src.AllowedAccountIDs, first.Region, src.STSEndpoint, awscreds.Options{LookupEnv: a.getenv})
	return &credbroker.Resolved{
		Provider:  credcache.New(guarded, credcache.Options{}),
		Region:    first.Region,
		Partition: first.Partition,
		Warnings:  first.Warnings,
		Secrets:   seen.list,
	}, nil
}
