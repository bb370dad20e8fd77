// Package storetest is the suite every credbroker.Store implementation
// passes. Package sqlite and package postgres run it against a real
// database:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) credbroker.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "broker.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
package storetest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// Run runs the suite. open returns a new, empty store for the test it is
// given and closes it in t.Cleanup; the suite may close it earlier, so
// Close must tolerate a second call.
func Run(t *testing.T, open func(t *testing.T) credbroker.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s credbroker.Store)
	}{
		{"ConnectorCRUD", testConnectorCRUD},
		{"ConnectorRoundTrip", testConnectorRoundTrip},
		{"ConnectorConflicts", testConnectorConflicts},
		{"ConnectorNotFound", testConnectorNotFound},
		{"ConnectorBase", testConnectorBase},
		{"ConnectorRevision", testConnectorRevision},
		{"ConnectorGeneration", testConnectorGeneration},
		{"Tokens", testTokens},
		{"Variables", testVariables},
		{"AuditChain", testAuditChain},
		{"AuditFilters", testAuditFilters},
		{"AuditConcurrent", testAuditConcurrent},
		{"AuditBatchSizes", testAuditBatchSizes},
		{"AdminAuditAtomic", testAdminAuditAtomic},
		{"Rewrap", testRewrap},
		{"RewrapCompareAndSwap", testRewrapCAS},
		{"RewrapError", testRewrapError},
		{"KeyCheck", testKeyCheck},
		{"Issuers", testIssuers},
		{"Bindings", testBindings},
		{"AuditIdentity", testAuditIdentity},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// t0 has nanoseconds, which every store truncates to microseconds.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// forbidden are fragments of raw database text that must never reach an
// error message.
var forbidden = []string{"sqlstate", "sqlite", "constraint", "pgx", "pgconn", "duplicate key", "violates", "syntax error", "no such table", "relation"}

// checkClean fails t if err's message shows raw database text.
func checkClean(t *testing.T, err error) {
	t.Helper()
	msg := strings.ToLower(err.Error())
	for _, f := range forbidden {
		if strings.Contains(msg, f) {
			t.Errorf("error message %q shows database text (%q)", err.Error(), f)
		}
	}
}

// wantCode fails t unless err is a *credbroker.Error with code and a clean
// message.
func wantCode(t *testing.T, err error, code credbroker.Code) *credbroker.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	e := credbroker.AsError(err)
	if e == nil {
		t.Fatalf("got %T %v, want a *credbroker.Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got code %s (%v), want %s", e.Code, err, code)
	}
	checkClean(t, err)
	return e
}

// must fails t on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// norm is how a store gives a time back: UTC, in microseconds.
func norm(tm time.Time) time.Time {
	return tm.UTC().Truncate(time.Microsecond)
}

// wantEqual fails t unless got and want are deeply equal.
func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// head returns the store's audit head.
func head(t *testing.T, s credbroker.Store) (int64, string) {
	t.Helper()
	seq, hash, err := s.AuditHead(t.Context())
	must(t, err)
	return seq, hash
}

// verifyTrail checks the whole trail with VerifyAudit and that it ends at
// the head; it returns the trail.
func verifyTrail(t *testing.T, s credbroker.Store) []credbroker.AuditRecord {
	t.Helper()
	recs, err := s.ListAudit(t.Context(), credbroker.AuditFilter{})
	must(t, err)
	problems, lastSeq, lastHash := credbroker.VerifyAudit(0, credbroker.AuditGenesis, recs)
	for _, p := range problems {
		t.Errorf("audit seq %d: %s", p.Seq, p.Problem)
	}
	seq, hash := head(t, s)
	if lastSeq != seq || lastHash != hash {
		t.Errorf("trail ends at %d %s, head is %d %s", lastSeq, lastHash, seq, hash)
	}
	return recs
}

// rec is an audit record of an admin action.
func rec(action string) *credbroker.AuditRecord {
	return &credbroker.AuditRecord{Time: t0, Action: action, TokenID: "tok-admin", Outcome: credbroker.OutcomeGranted}
}

var errBoom = errors.New("boom")
