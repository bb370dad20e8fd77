package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// FuzzForms: the console's own readers of what a browser sends (the
// connector form, the audit filter, the service's field names, the policy
// excerpt, CSV cells, the issuer and binding forms) never panic, and
// their promises hold.
func FuzzForms(f *testing.F) {
	f.Add("deploy", "1h", "team=ops\nx", "{\n\"a\" 1}", "at line 2, column 6", "policy.Statement[0]", "24h", "=cmd")
	f.Add("", "-5s", "=", "", "at line 99", "allow_plans[3]", "2026-01-02T15:04", "@x")
	f.Add("gh", "61s", "repository=acme\nref", "ref=refs/*", "no", "claims[-1]", "", "")
	f.Fuzz(func(t *testing.T, name, dur, tags, pol, msg, field, since, cell string) {
		form := url.Values{"name": {name}, "default_duration": {dur}, "max_backoff": {dur}, "tags": {tags},
			"policy": {pol}, "retries": {dur}, "secret_access_key": {cell}, "revision": {dur},
			"leeway": {dur}, "audiences": {tags}, "claims": {tags}, "claim_globs": {pol}, "tag_claims": {tags}}
		r, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := r.ParseForm(); err != nil {
			return
		}
		cf, secret := readForm(r)
		spec, errs := cf.spec(secret)
		if len(errs) == 0 && spec.DefaultDurationSeconds < 0 {
			t.Fatalf("negative duration %d accepted", spec.DefaultDurationSeconds)
		}
		_ = cf.PolicySize()
		for _, l := range policyExcerpt(pol, msg) {
			if l.N < 1 || l.N > strings.Count(pol, "\n")+1 {
				t.Fatalf("excerpt line %d outside the policy", l.N)
			}
		}
		if ff := formField(field); ff != "" && !strings.Contains(strings.Join(formFields, " "), ff) {
			t.Fatalf("formField(%q) = %q, not a form field", field, ff)
		}
		cf.withError(credbroker.Errorf(credbroker.CodeInvalid, field, "%s", msg))
		isf := readIssuerForm(r)
		if is, errs := isf.spec(); len(errs) == 0 && is.LeewaySeconds < 0 {
			t.Fatalf("negative leeway %d accepted", is.LeewaySeconds)
		}
		bf := readBindingForm(r)
		bs, errs := bf.spec()
		if len(errs) == 0 {
			for _, c := range bs.Claims {
				if c.Claim == "" || len(c.Values)+len(c.Globs) == 0 {
					t.Fatalf("rule %+v from claims %q and globs %q", c, tags, pol)
				}
			}
		}
		if in := issuerInput(field); in != "" && !slices.Contains(issuerFields, in) {
			t.Fatalf("issuerInput(%q) = %q, not a form field", field, in)
		}
		if in := bindingInput(field); in != "" && !slices.Contains(bindingFields, in) {
			t.Fatalf("bindingInput(%q) = %q, not a form field", field, in)
		}
		bf.withError(bs, credbroker.Errorf(credbroker.CodeInvalid, field, "%s", msg))
		q := auditQuery{Since: since, Until: dur}
		q.filter(time.Unix(1e9, 0))
		if s := csvSafe(cell); s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
			t.Fatalf("csvSafe(%q) = %q starts a formula", cell, s)
		}
	})
}

// TestMemorySessionsBounded: expired sessions are swept at the next
// sign-in, and the oldest go first when the store is full.
func TestMemorySessionsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMemorySessions(time.Minute, time.Hour, func() time.Time { return now })
	m.Max = 3
	ctx := context.Background()
	for i, k := range []string{"a", "b", "c", "d"} {
		created := now.Add(time.Duration(i) * time.Second)
		m.Put(ctx, &Session{Key: k, Created: created, LastSeen: created})
	}
	if _, err := m.Get(ctx, "a"); credbroker.ErrorCode(err) != credbroker.CodeNotFound || m.Len() != 3 {
		t.Fatalf("oldest kept, or %d sessions", m.Len())
	}
	now = now.Add(2 * time.Minute)
	m.Put(ctx, &Session{Key: "e", Created: now, LastSeen: now})
	if m.Len() != 1 {
		t.Fatalf("expired sessions not swept: %d left", m.Len())
	}
}
