package cli

import (
	"context"
	"fmt"
	"sync"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
	"github.com/credbroker/credbroker/credcache"
	"github.com/credbroker/credbroker/httpapi"
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
		res, err := awscreds.Resolve(ctx, src, b, awscreds.Options{LookupEnv: a.getenv, Logger: log})
		if err != nil {
			return nil, err
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
	w, err := httpapi.CheckBrokerURL(rawURL)
	if err != nil {
		return nil, err
	}
	if w != nil {
		fmt.Fprintf(a.io.Stderr, "credbroker: warning: %s\n", w)
	}
	return httpapi.NewClient(rawURL, httpapi.ClientOptions{Token: token, CAFile: caFile, UserAgent: userAgent()})
}

// userAgent is what credbroker says it is to the broker.
func userAgent() string { return "credbroker/" + Version }

// resolveConnector vends once now, to learn the region and fail early, and
// returns a provider that vends again when the cache needs a refresh,
// behind the source's account guard (the account the broker names, else
// GetCallerIdentity).
func (a *app) resolveConnector(ctx context.Context, src credbroker.Source, b credbroker.Build) (*credbroker.Resolved, error) {
	if err := credbroker.CheckAccountIDs(credbroker.FieldAllowedAccounts, src.AllowedAccountIDs); err != nil {
		return nil, err
	}
	client, err := a.brokerClient(src.Broker, src.Token, src.CAFile)
	if err != nil {
		return nil, err
	}
	req := credbroker.VendRequest{Connector: src.Connector, Plan: b.Plan, Build: b.Number, Job: b.Job, Task: b.Task, Tags: src.Tags}
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
	}, nil
}
