package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/identity"
)

// keySet is the cached JWKS of one issuer. One fetch runs at a time; a
// caller that needs it waits for it (within its context), a caller whose
// key is cached does not.
type keySet struct {
	issuer, discovery, jwks string

	mu       sync.Mutex
	keys     []jose.JSONWebKey
	fetched  time.Time     // last successful fetch
	tried    time.Time     // last fetch started
	lastErr  error         // the last fetch's failure, nil after a success
	inflight chan struct{} // closed when the running fetch ends
}

// key returns the issuer's public key kid for alg. Keys older than KeyTTL
// are still used while a fetch in the background replaces them. A kid the
// cache lacks (or no keys at all) waits for a fetch, at most one per
// RefreshInterval: within it, the last outcome answers at once.
func (v *Verifier) key(ctx context.Context, iss *credbroker.TrustedIssuer, kid, alg string) (*jose.JSONWebKey, error) {
	ks := v.set(iss)
	waited := false
	for {
		now := v.o.Now()
		ks.mu.Lock()
		k, found := pick(ks.keys, kid, alg)
		have := !ks.fetched.IsZero()
		may := now.Sub(ks.tried) >= v.o.RefreshInterval
		if found {
			if now.Sub(ks.fetched) >= v.o.KeyTTL && ks.inflight == nil && may {
				v.startRefresh(iss, ks, now)
			}
			ks.mu.Unlock()
			return k, nil
		}
		wait := ks.inflight
		if wait == nil && !waited && may {
			wait = v.startRefresh(iss, ks, now)
		}
		if wait == nil || waited {
			var err error
			if !have || ks.lastErr != nil {
				err = v.unreachable(iss, ks.lastErr)
			} else {
				err = unknownKey(iss, kid, ks)
			}
			ks.mu.Unlock()
			return nil, err
		}
		ks.mu.Unlock()
		select {
		case <-wait:
			waited = true
		case <-ctx.Done():
			return nil, credbroker.Errorf(credbroker.CodeUnavailable, "issuer",
				"the keys of issuer %s were still being fetched when the request ended", iss.Name).WithCause(ctx.Err())
		}
	}
}

// startRefresh starts a fetch of the key set; ks.mu is held.
func (v *Verifier) startRefresh(iss *credbroker.TrustedIssuer, ks *keySet, now time.Time) chan struct{} {
	done := make(chan struct{})
	ks.inflight, ks.tried = done, now
	go v.refresh(iss, ks, done)
	return done
}

// unknownKey says that the issuer publishes no key kid; ks.mu is held.
func unknownKey(iss *credbroker.TrustedIssuer, kid string, ks *keySet) error {
	if kid == "" {
		return refused("the token names no key (kid), and issuer %s publishes %d keys", iss.Name, len(ks.keys)).
			WithFix("the issuer must name its key in the token header")
	}
	return refused("issuer %s publishes no key %q for this token (its key set, fetched at %s, has %d keys)",
		iss.Name, kid, ks.fetched.UTC().Format(time.RFC3339), len(ks.keys)).
		WithFix("a token signed by the issuer names a key it publishes; a new key is picked up within seconds")
}

// unreachable is the 503 of an issuer whose keys cannot be fetched.
func (v *Verifier) unreachable(iss *credbroker.TrustedIssuer, cause error) error {
	reason := "no answer yet"
	if cause != nil {
		reason = cause.Error()
	}
	return credbroker.Errorf(credbroker.CodeUnavailable, "issuer",
		"the keys of trusted issuer %s cannot be fetched, so its tokens cannot be verified: %s", iss.Name, reason).
		WithFix("check that the broker reaches the issuer (" + keyLocation(iss) + "); the next request tries again").WithCause(cause)
}

// keyLocation is where the issuer's keys are found.
func keyLocation(iss *credbroker.TrustedIssuer) string {
	if iss.JWKSURL != "" {
		return iss.JWKSURL
	}
	return iss.DiscoveryURL
}

// pick finds the key kid for alg among keys: a public signing key whose
// algorithm, when it names one, is alg. A token without a kid takes the
// only suitable key, if there is exactly one.
func pick(keys []jose.JSONWebKey, kid, alg string) (*jose.JSONWebKey, bool) {
	var only *jose.JSONWebKey
	n := 0
	for i := range keys {
		k := &keys[i]
		if !k.IsPublic() || !k.Valid() || k.Use == "enc" || k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		if kid != "" && k.KeyID == kid {
			return k, true
		}
		only = k
		n++
	}
	if kid == "" && n == 1 {
		return only, true
	}
	return nil, false
}

// refresh fetches the key set and stores the outcome.
func (v *Verifier) refresh(iss *credbroker.TrustedIssuer, ks *keySet, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*v.o.FetchTimeout)
	defer cancel()
	began := v.o.Now()
	keys, err := v.fetchKeys(ctx, ks)
	if v.o.Observer != nil {
		result := FetchOK
		if err != nil {
			result = FetchError
		}
		v.o.Observer.JWKSFetch(result, v.o.Now().Sub(began))
	}
	ks.mu.Lock()
	if err == nil {
		ks.keys, ks.fetched, ks.lastErr = keys, v.o.Now(), nil
	} else {
		ks.lastErr = err
		v.o.Logger.Warn("fetching an issuer's keys failed", "issuer", iss.Name, "err", err)
	}
	ks.inflight = nil
	ks.mu.Unlock()
	close(done)
}

// fetchKeys reads the key set, through discovery when the issuer has no
// JWKS URL. Only public keys are kept.
func (v *Verifier) fetchKeys(ctx context.Context, ks *keySet) ([]jose.JSONWebKey, error) {
	jwksURL := ks.jwks
	if jwksURL == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := v.getJSON(ctx, ks.discovery, &doc); err != nil {
			return nil, fmt.Errorf("discovery document: %w", err)
		}
		if doc.Issuer != ks.issuer {
			return nil, fmt.Errorf("the discovery document at %s names issuer %q, not %q", ks.discovery, credbroker.CleanField(doc.Issuer, 128), ks.issuer)
		}
		if err := identity.CheckKeyURL("jwks_uri", doc.JWKSURI); err != nil {
			return nil, fmt.Errorf("the discovery document's jwks_uri: %s", credbroker.PublicMessage(err))
		}
		jwksURL = doc.JWKSURI
	}
	var set jose.JSONWebKeySet
	if err := v.getJSON(ctx, jwksURL, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, k := range set.Keys {
		if k.IsPublic() && k.Valid() {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("the key set at %s holds no public key", jwksURL)
	}
	return keys, nil
}

// getJSON GETs url within FetchTimeout and decodes its JSON answer, at
// most maxDocument bytes.
func (v *Verifier) getJSON(ctx context.Context, url string, dst any) error {
	ctx, cancel := context.WithTimeout(ctx, v.o.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.o.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("GET %s: no answer within %s", url, v.o.FetchTimeout)
		}
		return fmt.Errorf("GET %s: %s", url, strings.TrimPrefix(err.Error(), "Get \""+url+"\": "))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxDocument {
		return fmt.Errorf("GET %s: the answer is larger than %d bytes", url, maxDocument)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("GET %s: not JSON: %w", url, err)
	}
	return nil
}
