package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// RunFleet runs the suite of what the brokers on one database share
// (credbroker.Fleet). open returns two stores on one new, empty database,
// as two brokers have them, and closes them in t.Cleanup; the suite may
// close them earlier, so Close must tolerate a second call.
//
// Every store passes the shared sessions, the budget buckets and the
// sweep: the tables are the same everywhere. Session locks differ. A store
// whose FleetStore.Fleet is non-nil (PostgreSQL) must hold each lock for
// one store at a time and release a store's locks when the store closes,
// as when its broker dies. A store without a Fleet (the embedded SQLite
// store, which serves one broker) grants every TryLockSession and ignores
// UnlockSession: its broker keeps its single flight in process and never
// asks.
func RunFleet(t *testing.T, open func(t *testing.T) (a, b credbroker.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b credbroker.Store)
	}{
		{"SharedSessions", testSharedSessions},
		{"SharedSessionsRewrap", testSharedSessionsRewrap},
		{"SharedSessionsInvalid", testSharedSessionsInvalid},
		{"BudgetTurns", testBudgetTurns},
		{"BudgetInvalid", testBudgetInvalid},
		{"Sweep", testFleetSweep},
		{"TokenIDs", testTokenIDs},
		{"ConsoleSessions", testConsoleSessions},
		{"SessionLocks", testSessionLocks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			tt.fn(t, a, b)
		})
	}
}

// fleetOf returns s's fleet methods; every store has them.
func fleetOf(t *testing.T, s credbroker.Store) credbroker.Fleet {
	t.Helper()
	f, ok := s.(credbroker.Fleet)
	if !ok {
		t.Fatalf("%T does not implement credbroker.Fleet", s)
	}
	return f
}

// shares reports whether s says brokers share it.
func shares(t *testing.T, s credbroker.Store) bool {
	t.Helper()
	fs, ok := s.(credbroker.FleetStore)
	if !ok {
		t.Fatalf("%T does not implement credbroker.FleetStore", s)
	}
	return fs.Fleet() != nil
}

// session is a shared session expiring at exp (the blob says which).
func session(key string, version int, exp time.Time) credbroker.SharedSession {
	return credbroker.SharedSession{Key: key, Expires: exp,
		Sealed: credbroker.Sealed{KeyVersion: version, Blob: []byte("sealed " + key + " until " + exp.UTC().Format(time.RFC3339))}}
}

func testSharedSessions(t *testing.T, a, b credbroker.Store) {
	ctx := t.Context()
	fa, fb := fleetOf(t, a), fleetOf(t, b)
	// The database's clock decides what has expired: times are relative
	// to the real time, with margins of hours.
	now := time.Now()
	_, err := fb.SharedSession(ctx, "k1")
	wantCode(t, err, credbroker.CodeNotFound)

	first := session("k1", 1, now.Add(time.Hour))
	must(t, fa.ShareSession(ctx, first))
	got, err := fb.SharedSession(ctx, "k1")
	must(t, err)
	first.Expires = norm(first.Expires)
	wantEqual(t, "session shared by the other store", got, first)

	// A session that expires later replaces it; one that expires sooner
	// (a broker that was slower to store its refresh) does not.
	later := session("k1", 2, now.Add(2*time.Hour))
	must(t, fb.ShareSession(ctx, later))
	must(t, fa.ShareSession(ctx, session("k1", 1, now.Add(90*time.Minute))))
	got, err = fa.SharedSession(ctx, "k1")
	must(t, err)
	later.Expires = norm(later.Expires)
	wantEqual(t, "session after a later and a sooner one", got, later)

	// Keys are exact, and one key's session is not another's.
	must(t, fa.ShareSession(ctx, session("k2", 1, now.Add(time.Hour))))
	for _, key := range []string{"k", "K1", "k1 ", "k3"} {
		_, err := fb.SharedSession(ctx, key)
		wantCode(t, err, credbroker.CodeNotFound)
	}
	if got, err := fb.SharedSession(ctx, "k2"); err != nil || !bytes.Contains(got.Sealed.Blob, []byte("k2")) {
		t.Errorf("k2: %v %q", err, got.Sealed.Blob)
	}

	// An expired session is never returned, even before the sweep.
	must(t, fa.ShareSession(ctx, session("old", 1, now.Add(-time.Minute))))
	_, err = fb.SharedSession(ctx, "old")
	wantCode(t, err, credbroker.CodeNotFound)
}

func testSharedSessionsRewrap(t *testing.T, a, b credbroker.Store) {
	ctx := t.Context()
	fa := fleetOf(t, a)
	exp := time.Now().Add(time.Hour)
	must(t, fa.ShareSession(ctx, session("s-old", 1, exp)))
	must(t, fa.ShareSession(ctx, session("s-new", 2, exp)))
	counts, err := b.CountSealed(ctx)
	must(t, err)
	wantEqual(t, "sealed counts with two sessions", counts, map[int]int{1: 1, 2: 1})

	var refs []string
	n, err := b.RewrapSecrets(ctx, 2, func(ref credbroker.SecretRef, sealed credbroker.Sealed) (credbroker.Sealed, error) {
		refs = append(refs, ref.String())
		return rewrapTo2(ref, sealed)
	})
	must(t, err)
	if n != 1 {
		t.Errorf("re-wrapped %d secrets, want 1", n)
	}
	wantEqual(t, "refs", refs, []string{credbroker.SessionRef("s-old").String()})
	got, err := fa.SharedSession(ctx, "s-old")
	must(t, err)
	want := session("s-old", 1, exp).Sealed
	wantEqual(t, "re-wrapped session", got.Sealed, credbroker.Sealed{KeyVersion: 2, Blob: append([]byte("v2<"), want.Blob...)})
	counts, err = a.CountSealed(ctx)
	must(t, err)
	wantEqual(t, "sealed counts after the rewrap", counts, map[int]int{2: 2})
}

func testSharedSessionsInvalid(t *testing.T, a, _ credbroker.Store) {
	ctx := t.Context()
	fa := fleetOf(t, a)
	exp := time.Now().Add(time.Hour)
	for name, ss := range map[string]credbroker.SharedSession{
		"no key":    {Sealed: credbroker.Sealed{KeyVersion: 1, Blob: []byte("x")}, Expires: exp},
		"no blob":   {Key: "k", Sealed: credbroker.Sealed{KeyVersion: 1}, Expires: exp},
		"no expiry": {Key: "k", Sealed: credbroker.Sealed{KeyVersion: 1, Blob: []byte("x")}},
	} {
		t.Run(name, func(t *testing.T) {
			wantCode(t, fa.ShareSession(ctx, ss), credbroker.CodeInvalid)
		})
	}
	_, err := fa.SharedSession(ctx, "k")
	wantCode(t, err, credbroker.CodeNotFound)
}

func testBudgetTurns(t *testing.T, a, b credbroker.Store) {
	ctx := t.Context()
	fa, fb := fleetOf(t, a), fleetOf(t, b)
	// One call per 1,000 s: no token comes back while the test runs, so
	// every wait below is known to within the test's own duration.
	const rate, burst = 0.001, 3
	take := func(f credbroker.Fleet, maxWait time.Duration) (time.Duration, bool) {
		t.Helper()
		wait, ok, err := f.TakeTurn(ctx, "bucket-a", rate, burst, maxWait)
		must(t, err)
		return wait, ok
	}
	// Both stores draw on one bucket: three turns at once between them.
	for i, f := range []credbroker.Fleet{fa, fb, fa} {
		if wait, ok := take(f, 0); !ok || wait != 0 {
			t.Fatalf("turn %d of the burst: wait %s, ok %v; want an immediate turn", i+1, wait, ok)
		}
	}
	// The fourth is 1,000 s away: refused when the caller may not wait,
	// and then nothing was booked.
	if wait, ok := take(fb, time.Minute); ok {
		t.Fatalf("a turn 1,000 s away was given to a caller that waits a minute at most (wait %s)", wait)
	}
	wait, ok := take(fb, 2000*time.Second)
	if !ok || wait <= 900*time.Second || wait > 1000*time.Second {
		t.Fatalf("fourth turn: wait %s, ok %v; want about 1,000 s", wait, ok)
	}
	// Booked ahead: the fifth waits twice as long, unless the fourth is
	// given back.
	must(t, fb.ReturnTurn(ctx, "bucket-a"))
	if again, ok := take(fa, 2000*time.Second); !ok || again < wait-time.Minute || again > wait+time.Second {
		t.Fatalf("turn after one was given back: wait %s, ok %v; want about %s", again, ok, wait)
	}
	// Another bucket is another budget; returning a turn never fills a
	// bucket beyond its burst.
	must(t, fa.ReturnTurn(ctx, "bucket-b"))
	for i := range burst {
		if wait, ok, err := fb.TakeTurn(ctx, "bucket-b", rate, burst, 0); err != nil || !ok || wait != 0 {
			t.Fatalf("turn %d of bucket-b: %s %v %v", i+1, wait, ok, err)
		}
	}
	must(t, fa.ReturnTurn(ctx, "bucket-b"))
	must(t, fa.ReturnTurn(ctx, "bucket-b"))
	if _, ok, err := fa.TakeTurn(ctx, "bucket-b", rate, burst, 0); err != nil || !ok {
		t.Fatalf("turn after two were given back: %v %v", ok, err)
	}
	if _, ok, err := fa.TakeTurn(ctx, "bucket-b", rate, burst, 0); err != nil || !ok {
		t.Fatalf("second turn after two were given back: %v %v", ok, err)
	}
	if _, ok, err := fa.TakeTurn(ctx, "bucket-b", rate, burst, 0); err != nil || ok {
		t.Fatalf("third turn after two were given back: %v %v; want a refusal", ok, err)
	}
	// A fast bucket refills by the database's clock: at a million calls
	// per second the burst is back after a microsecond.
	for i := range 2 * burst {
		if _, ok, err := fa.TakeTurn(ctx, "bucket-fast", 1e6, 1, time.Second); err != nil || !ok {
			t.Fatalf("turn %d of the fast bucket: %v %v", i+1, ok, err)
		}
	}
}

func testBudgetInvalid(t *testing.T, a, _ credbroker.Store) {
	ctx := t.Context()
	fa := fleetOf(t, a)
	for _, c := range []struct {
		name   string
		bucket string
		rate   float64
		burst  int
		field  string
	}{
		{"no bucket", "", 1, 1, "bucket"},
		{"zero rate", "b", 0, 1, "rate"},
		{"negative rate", "b", -1, 1, "rate"},
		{"zero burst", "b", 1, 0, "burst"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, ok, err := fa.TakeTurn(ctx, c.bucket, c.rate, c.burst, time.Second)
			if e := wantCode(t, err, credbroker.CodeInvalid); e.Field != c.field || ok {
				t.Errorf("field %q, ok %v; want field %q and no turn", e.Field, ok, c.field)
			}
		})
	}
}

func testFleetSweep(t *testing.T, a, b credbroker.Store) {
	ctx := t.Context()
	fa, fb := fleetOf(t, a), fleetOf(t, b)
	now := time.Now()
	must(t, fa.ShareSession(ctx, session("gone-1", 1, now.Add(-time.Hour))))
	must(t, fa.ShareSession(ctx, session("gone-2", 1, now.Add(-time.Second))))
	must(t, fa.ShareSession(ctx, session("kept", 1, now.Add(time.Hour))))
	// A bucket with turns booked stays; one that has refilled goes.
	if _, ok, err := fa.TakeTurn(ctx, "slow", 0.001, 1, 0); err != nil || !ok {
		t.Fatalf("slow bucket: %v %v", ok, err)
	}
	if _, ok, err := fa.TakeTurn(ctx, "fast", 1e6, 1, 0); err != nil || !ok {
		t.Fatalf("fast bucket: %v %v", ok, err)
	}
	// The fast bucket refills in a microsecond, but SQLite's clock
	// (unixepoch('subsec')) moves in milliseconds: let it move.
	time.Sleep(5 * time.Millisecond)
	n, err := fb.SweepFleet(ctx)
	must(t, err)
	if n != 3 {
		t.Errorf("the sweep deleted %d rows, want 3 (two expired sessions and a full bucket)", n)
	}
	if _, err := fa.SharedSession(ctx, "kept"); err != nil {
		t.Errorf("the sweep took a session that has not expired: %v", err)
	}
	counts, err := a.CountSealed(ctx)
	must(t, err)
	wantEqual(t, "sealed sessions after the sweep", counts, map[int]int{1: 1})
	if _, ok, err := fb.TakeTurn(ctx, "slow", 0.001, 1, 0); err != nil || ok {
		t.Errorf("the sweep emptied a bucket with a turn booked: %v %v", ok, err)
	}
	n, err = fb.SweepFleet(ctx)
	must(t, err)
	if n != 0 {
		t.Errorf("a second sweep deleted %d rows", n)
	}
}

// testTokenIDs: a token ID is claimed once across the stores until its
// claim ends by the database's clock; then it can be claimed again, and
// the sweep deletes ended claims only.
func testTokenIDs(t *testing.T, a, b credbroker.Store) {
	ctx := t.Context()
	fa, fb := fleetOf(t, a), fleetOf(t, b)
	claim := func(f credbroker.Fleet, key string, until time.Time) bool {
		t.Helper()
		ok, err := f.ClaimTokenID(ctx, key, until)
		must(t, err)
		return ok
	}
	now := time.Now()
	if !claim(fa, "id-1", now.Add(time.Hour)) {
		t.Fatal("the first claim of a token ID was refused")
	}
	for i, f := range []credbroker.Fleet{fb, fa, fb} {
		if claim(f, "id-1", now.Add(2*time.Hour)) {
			t.Fatalf("claim %d of a token ID already claimed was granted", i+2)
		}
	}
	if !claim(fb, "id-2", now.Add(time.Hour)) || claim(fa, "id-2", now.Add(time.Hour)) {
		t.Fatal("claims of different token IDs are not independent")
	}
	// A refused claim does not move the first one's end: id-1 still ends
	// within the hour, so a claim that has ended (id-old) is the only one
	// taken again.
	if !claim(fa, "id-old", now.Add(-time.Second)) {
		t.Fatal("the first claim of an already ended token ID was refused")
	}
	if !claim(fb, "id-old", now.Add(time.Hour)) {
		t.Fatal("a token ID whose claim has ended could not be claimed again")
	}
	if claim(fa, "id-old", now.Add(time.Hour)) {
		t.Fatal("the renewed claim of a token ID was not held")
	}
	must(t, fa.ShareSession(ctx, session("kept", 1, now.Add(time.Hour))))
	if !claim(fa, "id-gone", now.Add(-time.Minute)) {
		t.Fatal("the claim of id-gone was refused")
	}
	n, err := fb.SweepFleet(ctx)
	must(t, err)
	if n != 1 {
		t.Errorf("the sweep deleted %d rows, want 1 (the ended claim of id-gone)", n)
	}
	for _, key := range []string{"id-1", "id-2", "id-old"} {
		if claim(fb, key, now.Add(time.Hour)) {
			t.Errorf("the sweep deleted the running claim of %s", key)
		}
	}

	_, err = fa.ClaimTokenID(ctx, "", now.Add(time.Hour))
	wantCode(t, err, credbroker.CodeInvalid)
	_, err = fa.ClaimTokenID(ctx, "id-3", time.Time{})
	wantCode(t, err, credbroker.CodeInvalid)
}

// testConsoleSessions: a console session stored through one store is read
// through the other, replaced whole, deleted, and swept once it has ended
// by the database's clock.
func testConsoleSessions(t *testing.T, a, b credbroker.Store) {
	ctx := t.Context()
	fa, fb := fleetOf(t, a), fleetOf(t, b)
	now := norm(time.Now())
	cs := credbroker.ConsoleSession{Key: "c1", TokenID: "tok-1", TokenName: "alice", CSRF: "csrf-1",
		Created: now.Add(-time.Minute), LastSeen: now, Ends: now.Add(30 * time.Minute)}
	_, err := fb.ConsoleSession(ctx, "c1")
	wantCode(t, err, credbroker.CodeNotFound)
	must(t, fa.PutConsoleSession(ctx, cs))
	got, err := fb.ConsoleSession(ctx, "c1")
	must(t, err)
	wantEqual(t, "console session stored by the other store", got, cs)

	// A later request replaces it whole: a notice, a new last request.
	cs.Flash, cs.LastSeen, cs.Ends = "Variable region (global) saved.", now.Add(time.Minute), now.Add(31*time.Minute)
	must(t, fb.PutConsoleSession(ctx, cs))
	got, err = fa.ConsoleSession(ctx, "c1")
	must(t, err)
	wantEqual(t, "console session after an update", got, cs)
	cs.Flash = ""
	must(t, fa.PutConsoleSession(ctx, cs))
	if got, _ := fb.ConsoleSession(ctx, "c1"); got.Flash != "" {
		t.Errorf("a notice read once is still there: %q", got.Flash)
	}
	for _, key := range []string{"c", "C1", "c1 "} {
		_, err := fb.ConsoleSession(ctx, key)
		wantCode(t, err, credbroker.CodeNotFound)
	}

	// The sweep deletes ended sessions only.
	ended := credbroker.ConsoleSession{Key: "c2", TokenID: "tok-1", TokenName: "alice", CSRF: "csrf-2",
		Created: now.Add(-time.Hour), LastSeen: now.Add(-time.Hour), Ends: now.Add(-time.Second)}
	must(t, fa.PutConsoleSession(ctx, ended))
	n, err := fb.SweepFleet(ctx)
	must(t, err)
	if n != 1 {
		t.Errorf("the sweep deleted %d rows, want 1 (the ended console session)", n)
	}
	_, err = fa.ConsoleSession(ctx, "c2")
	wantCode(t, err, credbroker.CodeNotFound)
	if _, err := fa.ConsoleSession(ctx, "c1"); err != nil {
		t.Errorf("the sweep took a session that has not ended: %v", err)
	}

	must(t, fb.DeleteConsoleSession(ctx, "c1"))
	_, err = fa.ConsoleSession(ctx, "c1")
	wantCode(t, err, credbroker.CodeNotFound)
	must(t, fa.DeleteConsoleSession(ctx, "never stored"))

	wantCode(t, fa.PutConsoleSession(ctx, credbroker.ConsoleSession{Ends: now.Add(time.Hour)}), credbroker.CodeInvalid)
	wantCode(t, fa.PutConsoleSession(ctx, credbroker.ConsoleSession{Key: "c3"}), credbroker.CodeInvalid)
}

func testSessionLocks(t *testing.T, a, b credbroker.Store) {
	ctx := t.Context()
	fa, fb := fleetOf(t, a), fleetOf(t, b)
	lock := func(f credbroker.Fleet, key string) bool {
		t.Helper()
		ok, err := f.TryLockSession(ctx, key)
		must(t, err)
		return ok
	}
	if shares(t, a) != shares(t, b) {
		t.Fatal("two stores on one database disagree on whether brokers share it")
	}
	if !shares(t, a) {
		// One broker, no fleet: every lock is granted, to anyone, and
		// unlocking does nothing.
		for _, f := range []credbroker.Fleet{fa, fb, fa} {
			if !lock(f, "k") {
				t.Fatal("a store without a fleet refused a session lock")
			}
		}
		must(t, fa.UnlockSession(ctx, "k"))
		must(t, fb.UnlockSession(ctx, "never taken"))
		return
	}
	if !lock(fa, "k1") {
		t.Fatal("a free lock was refused")
	}
	if lock(fb, "k1") {
		t.Fatal("the other store took a lock that is held")
	}
	if !lock(fb, "k2") || lock(fa, "k2") {
		t.Fatal("locks of different keys are not independent")
	}
	must(t, fa.UnlockSession(ctx, "k1"))
	if !lock(fb, "k1") {
		t.Fatal("a released lock was refused")
	}
	if lock(fa, "k1") {
		t.Fatal("a lock taken after its release is not held")
	}
	must(t, fb.UnlockSession(ctx, "never taken"))

	// A store that closes, as when its broker dies, releases what it
	// held: the database ends its connection, and with it every lock.
	must(t, b.Close())
	for deadline := time.Now().Add(10 * time.Second); !lock(fa, "k1"); {
		if time.Now().After(deadline) {
			t.Fatal("the lock of a closed store is still held after 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !lock(fa, "k2") {
		t.Fatal("a closed store released one of its locks but not the other")
	}
}
