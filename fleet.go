package credbroker

import (
	"context"
	"time"
)

// SharedSession is a session that one broker got from STS, stored sealed
// so that the other brokers on the same database can hand it out too.
type SharedSession struct {
	// Key is the broker's cache key of the session: a hash of the
	// connector and its revision, the plan (and build and job, for
	// per-build sessions) and the vend's parameters. The session is
	// sealed under SessionRef(Key), so a blob copied onto another key
	// does not open.
	Key string
	// Sealed holds the credentials and when they were issued.
	Sealed Sealed
	// Expires is when the credentials stop working: the store drops the
	// row then. Brokers judge a session by the expiry sealed inside it,
	// not by this copy.
	Expires time.Time
}

// ConsoleSession is a signed-in administrator's web console session, as
// the brokers of a fleet share it: a session opened at one broker is
// known to the others behind the same balancer. It holds nothing that
// opens a session: Key is a hash of the session ID, which only the
// browser's cookie holds, and CSRF is checked only with that cookie.
type ConsoleSession struct {
	Key       string // hex SHA-256 of the session ID
	TokenID   string // the admin token it was opened with (never its secret)
	TokenName string
	CSRF      string // the token every state-changing form carries
	Flash     string // a one-time notice for the next page
	Created   time.Time
	LastSeen  time.Time
	// Ends is when the session ends at the latest (its idle timeout or
	// its lifetime, whichever comes first); the store drops it then.
	Ends time.Time
}

// SessionRef is the reference a shared session is sealed under.
func SessionRef(key string) SecretRef { return SecretRef{Kind: "session", ID: key} }

// Fleet is what the brokers on one database share beyond the store's
// records: the sessions they were issued, a lock per session so that one
// broker calls STS while the others wait for its result, the token
// buckets of their STS budget, the IDs of the ID tokens that issuers
// which reject replays allow once, and the web console's sessions. Times that brokers compare (a session's
// expiry in the store, a bucket's refill) are read from the database's
// clock, so brokers whose clocks disagree still share one budget.
//
// The PostgreSQL store's Fleet implements it; the embedded SQLite store
// serves one broker and has none (FleetStore.Fleet returns nil).
type Fleet interface {
	// SharedSession returns the session stored under key that has not
	// expired by the database's clock; CodeNotFound when there is none.
	SharedSession(ctx context.Context, key string) (SharedSession, error)
	// ShareSession stores s under s.Key unless the session already stored
	// there expires later.
	ShareSession(ctx context.Context, s SharedSession) error
	// TryLockSession takes the lock of the session key if no broker holds
	// it, and reports whether it did. The lock is held until
	// UnlockSession, or until the broker's connection to the database
	// ends: the database releases the locks of a broker that dies.
	TryLockSession(ctx context.Context, key string) (bool, error)
	// UnlockSession releases a lock TryLockSession took.
	UnlockSession(ctx context.Context, key string) error
	// TakeTurn reserves one call in the token bucket named bucket, which
	// holds burst calls and refills at rate calls per second, and returns
	// how long the caller must wait before it makes the call (zero when
	// it may call at once). When the turn is further away than maxWait,
	// nothing is reserved and ok is false.
	TakeTurn(ctx context.Context, bucket string, rate float64, burst int, maxWait time.Duration) (wait time.Duration, ok bool, err error)
	// ReturnTurn gives back a turn that TakeTurn reserved and that was
	// not used.
	ReturnTurn(ctx context.Context, bucket string) error
	// ClaimTokenID records that the ID token named key (a hash of its
	// issuer and jti) was used, until until, and reports whether this was
	// its first use: false when any broker of the fleet claimed key
	// before and that claim has not ended by the database's clock.
	ClaimTokenID(ctx context.Context, key string, until time.Time) (bool, error)
	// PutConsoleSession stores the web console's session s under s.Key,
	// replacing what was there.
	PutConsoleSession(ctx context.Context, s ConsoleSession) error
	// ConsoleSession returns the console session under key; CodeNotFound
	// when there is none. The console judges whether it has ended.
	ConsoleSession(ctx context.Context, key string) (ConsoleSession, error)
	// DeleteConsoleSession removes the console session under key; a
	// missing one is no error.
	DeleteConsoleSession(ctx context.Context, key string) error
	// SweepFleet deletes the sessions that have expired, the buckets
	// that are full again, the token IDs whose claims have ended and the
	// console sessions that have ended, and returns how many rows it
	// deleted.
	SweepFleet(ctx context.Context) (int, error)
}

// FleetStore is a Store that can say whether several brokers share it.
type FleetStore interface {
	// Fleet returns what the brokers on the store's database share, or
	// nil when the store serves a single broker.
	Fleet() Fleet
}
