package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"math"
	"time"

	"github.com/credbroker/credbroker"
)

var (
	_ credbroker.Fleet      = (*Store)(nil)
	_ credbroker.FleetStore = (*Store)(nil)
)

// Fleet returns the store as what the brokers on its database share, or
// nil when its database serves one broker: a dialect without session locks
// (SQLite), or a store opened without Options.Locks.
func (s *Store) Fleet() credbroker.Fleet {
	if s.d.TryLock == "" || s.locks == nil {
		return nil
	}
	return s
}

// SharedSession returns the session stored under key that has not expired
// by the database's clock; CodeNotFound when there is none.
func (s *Store) SharedSession(ctx context.Context, key string) (credbroker.SharedSession, error) {
	return readOne(ctx, s, "read shared session",
		`SELECT key_version, blob, expires_us FROM shared_sessions WHERE key = $1 AND expires_us > `+s.d.Now,
		func() error {
			return credbroker.Errorf(credbroker.CodeNotFound, "session", "no shared session under that key")
		},
		func(sc scanner) (credbroker.SharedSession, error) {
			v := credbroker.SharedSession{Key: key}
			var expires sql.NullInt64
			err := sc.Scan(&v.Sealed.KeyVersion, &v.Sealed.Blob, &expires)
			v.Expires = fromMicros(expires)
			return v, err
		}, key)
}

// ShareSession stores ss under ss.Key unless the session stored there
// expires later (another broker refreshed it meanwhile).
func (s *Store) ShareSession(ctx context.Context, ss credbroker.SharedSession) error {
	switch {
	case ss.Key == "":
		return credbroker.Errorf(credbroker.CodeInvalid, "key", "the shared session has no key")
	case ss.Sealed.Empty():
		return credbroker.Errorf(credbroker.CodeInvalid, "sealed", "the shared session %s holds nothing sealed", ss.Key)
	case ss.Expires.IsZero():
		return credbroker.Errorf(credbroker.CodeInvalid, "expires", "the shared session %s has no expiry; only expiring sessions are shared", ss.Key)
	}
	_, err := s.exec(ctx, "share session", `INSERT INTO shared_sessions (key, key_version, blob, expires_us) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key) DO UPDATE SET key_version = excluded.key_version, blob = excluded.blob, expires_us = excluded.expires_us
		WHERE shared_sessions.expires_us < excluded.expires_us`,
		ss.Key, int64(ss.Sealed.KeyVersion), ss.Sealed.Blob, ss.Expires.UnixMicro())
	return err
}

// lockID is the number of the lock of session key: 64 bits of a hash, in
// a key space of its own (the two-number advisory locks of PostgreSQL do
// not share it; the migration lock is a single number).
func lockID(key string) int64 {
	sum := sha256.Sum256([]byte("credbroker session lock\x00" + key))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// TryLockSession takes the lock of session key if no connection to the
// database holds it, and reports whether it did. The lock lives on the
// one connection of Options.Locks until UnlockSession or until that
// connection ends, which the database notices when the broker dies. The
// caller's cancellation does not reach the statement: a cancelled query
// can close the connection, and with it every lock the broker holds.
//
// Without session locks in the dialect (SQLite) every call succeeds: a
// broker on the embedded store has no one to share a session with, and
// its own single flight is in process.
func (s *Store) TryLockSession(ctx context.Context, key string) (bool, error) {
	if s.d.TryLock == "" || s.locks == nil {
		return true, nil
	}
	return s.lockStatement(ctx, "lock session", s.d.TryLock, key)
}

// UnlockSession releases a lock TryLockSession took; releasing one the
// connection no longer holds (it was replaced meanwhile) does nothing.
func (s *Store) UnlockSession(ctx context.Context, key string) error {
	if s.d.Unlock == "" || s.locks == nil {
		return nil
	}
	_, err := s.lockStatement(ctx, "unlock session", s.d.Unlock, key)
	return err
}

// lockStatement runs a lock statement of one boolean result on the
// locks' connection.
func (s *Store) lockStatement(ctx context.Context, op, query, key string) (bool, error) {
	var ok bool
	err := s.retry(context.WithoutCancel(ctx), op, func(ctx context.Context) error {
		return s.locks.QueryRowContext(ctx, query, lockID(key)).Scan(&ok)
	})
	return ok, err
}

// takeTurn books one call in a token bucket, by the database's clock: the
// bucket is refilled for the time since it was last counted (up to
// burst), one token is taken, and the tokens left come back, negative
// when calls are booked ahead of the refill. When that would leave fewer
// than $4 tokens, the row is left as it was and no row comes back.
//
// Parameters: $1 bucket, $2 rate, $3 burst, $4 the fewest tokens that may
// be left, $5 burst - 1 (the tokens of a new bucket after its first turn).
// refill is spelled out twice because neither database lets a SET clause
// and a WHERE clause share an expression.
func (s *Store) takeTurnSQL() string {
	const refill = `(CASE
		WHEN excluded.at_us <= b.at_us THEN b.tokens
		WHEN b.tokens + excluded.rate * (excluded.at_us - b.at_us) / 1000000.0 >= excluded.burst THEN CAST(excluded.burst AS DOUBLE PRECISION)
		ELSE b.tokens + excluded.rate * (excluded.at_us - b.at_us) / 1000000.0 END)`
	return `INSERT INTO sts_budget AS b (bucket, tokens, rate, burst, at_us)
		VALUES ($1, CAST($5 AS DOUBLE PRECISION), CAST($2 AS DOUBLE PRECISION), $3, ` + s.d.Now + `)
		ON CONFLICT (bucket) DO UPDATE SET
			tokens = ` + refill + ` - 1,
			rate = excluded.rate, burst = excluded.burst,
			at_us = CASE WHEN excluded.at_us > b.at_us THEN excluded.at_us ELSE b.at_us END
		WHERE ` + refill + ` - 1 >= CAST($4 AS DOUBLE PRECISION)
		RETURNING tokens`
}

// TakeTurn reserves one call in the token bucket named bucket (burst
// calls, refilled at rate per second, by the database's clock) and
// returns how long to wait before making it. A turn further away than
// maxWait is not reserved: ok is false.
func (s *Store) TakeTurn(ctx context.Context, bucket string, rate float64, burst int, maxWait time.Duration) (time.Duration, bool, error) {
	switch {
	case bucket == "":
		return 0, false, credbroker.Errorf(credbroker.CodeInvalid, "bucket", "no budget bucket named")
	case !(rate > 0) || math.IsInf(rate, 0):
		return 0, false, credbroker.Errorf(credbroker.CodeInvalid, "rate", "the budget's rate must be a positive number of calls per second, got %v", rate)
	case burst <= 0:
		return 0, false, credbroker.Errorf(credbroker.CodeInvalid, "burst", "the budget's burst must be positive, got %d", burst)
	case maxWait < 0:
		maxWait = 0
	}
	floor := -rate * maxWait.Seconds()
	var left float64
	refused := false
	err := s.retry(ctx, "take a budget turn", func(ctx context.Context) error {
		st, err := s.prepared(ctx, s.w, s.takeTurn)
		if err != nil {
			return err
		}
		err = st.QueryRowContext(ctx, bucket, rate, int64(burst), floor, float64(burst-1)).Scan(&left)
		refused = isNoRows(err)
		if refused {
			return nil
		}
		return err
	})
	if err != nil || refused {
		return 0, false, err
	}
	if left >= 0 {
		return 0, true, nil
	}
	return time.Duration(-left / rate * float64(time.Second)), true, nil
}

// ReturnTurn gives back one token to bucket, up to its burst.
func (s *Store) ReturnTurn(ctx context.Context, bucket string) error {
	_, err := s.exec(ctx, "return a budget turn", `UPDATE sts_budget
		SET tokens = CASE WHEN tokens + 1 > burst THEN CAST(burst AS DOUBLE PRECISION) ELSE tokens + 1 END
		WHERE bucket = $1`, bucket)
	return err
}

// ClaimTokenID records key as used until until and reports whether no
// claim of key was still running by the database's clock: one statement,
// so two brokers claiming one key at once cannot both win.
func (s *Store) ClaimTokenID(ctx context.Context, key string, until time.Time) (bool, error) {
	switch {
	case key == "":
		return false, credbroker.Errorf(credbroker.CodeInvalid, "key", "no token ID to claim")
	case until.IsZero():
		return false, credbroker.Errorf(credbroker.CodeInvalid, "until", "the claim of a token ID needs an end")
	}
	claimed := false
	err := s.retry(ctx, "claim a token ID", func(ctx context.Context) error {
		st, err := s.prepared(ctx, s.w, `INSERT INTO used_token_ids (key, expires_us) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET expires_us = excluded.expires_us
			WHERE used_token_ids.expires_us <= `+s.d.Now+`
			RETURNING 1`)
		if err != nil {
			return err
		}
		var one int
		err = st.QueryRowContext(ctx, key, until.UnixMicro()).Scan(&one)
		claimed = err == nil
		if isNoRows(err) {
			return nil
		}
		return err
	})
	return claimed && err == nil, err
}

// PutConsoleSession stores cs under cs.Key, replacing what was there.
func (s *Store) PutConsoleSession(ctx context.Context, cs credbroker.ConsoleSession) error {
	switch {
	case cs.Key == "":
		return credbroker.Errorf(credbroker.CodeInvalid, "key", "the console session has no key")
	case cs.Ends.IsZero():
		return credbroker.Errorf(credbroker.CodeInvalid, "ends", "the console session has no end")
	}
	_, err := s.exec(ctx, "store console session", `INSERT INTO console_sessions
		(key, token_id, token_name, csrf, flash, created_us, last_seen_us, ends_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (key) DO UPDATE SET token_id = excluded.token_id, token_name = excluded.token_name, csrf = excluded.csrf,
			flash = excluded.flash, created_us = excluded.created_us, last_seen_us = excluded.last_seen_us, ends_us = excluded.ends_us`,
		cs.Key, cs.TokenID, cs.TokenName, cs.CSRF, cs.Flash, cs.Created.UnixMicro(), cs.LastSeen.UnixMicro(), cs.Ends.UnixMicro())
	return err
}

// ConsoleSession returns the console session under key; CodeNotFound when
// there is none. Whether it has ended is the console's to judge, by its
// own clock; the sweep deletes it once it has by the database's.
func (s *Store) ConsoleSession(ctx context.Context, key string) (credbroker.ConsoleSession, error) {
	return readOne(ctx, s, "read console session",
		`SELECT token_id, token_name, csrf, flash, created_us, last_seen_us, ends_us FROM console_sessions
			WHERE key = $1`,
		func() error {
			return credbroker.Errorf(credbroker.CodeNotFound, "session", "no such console session")
		},
		func(sc scanner) (credbroker.ConsoleSession, error) {
			cs := credbroker.ConsoleSession{Key: key}
			var created, seen, ends sql.NullInt64
			err := sc.Scan(&cs.TokenID, &cs.TokenName, &cs.CSRF, &cs.Flash, &created, &seen, &ends)
			cs.Created, cs.LastSeen, cs.Ends = fromMicros(created), fromMicros(seen), fromMicros(ends)
			return cs, err
		}, key)
}

// DeleteConsoleSession removes the console session under key.
func (s *Store) DeleteConsoleSession(ctx context.Context, key string) error {
	_, err := s.exec(ctx, "delete console session", `DELETE FROM console_sessions WHERE key = $1`, key)
	return err
}

// SweepFleet deletes the shared sessions that have expired, the budget
// buckets that have refilled to their burst, the token IDs whose claims
// have ended and the console sessions that have ended, by the database's
// clock.
func (s *Store) SweepFleet(ctx context.Context) (int, error) {
	n := 0
	for _, sweep := range []struct{ op, query string }{
		{"sweep shared sessions", `DELETE FROM shared_sessions WHERE expires_us <= ` + s.d.Now},
		{"sweep budget buckets", `DELETE FROM sts_budget WHERE tokens + rate * (` + s.d.Now + ` - at_us) / 1000000.0 >= burst`},
		{"sweep used token IDs", `DELETE FROM used_token_ids WHERE expires_us <= ` + s.d.Now},
		{"sweep console sessions", `DELETE FROM console_sessions WHERE ends_us <= ` + s.d.Now},
	} {
		deleted, err := s.exec(ctx, sweep.op, sweep.query)
		n += int(deleted)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// exec runs one statement, prepared, on the writer outside a transaction
// and returns how many rows it changed.
func (s *Store) exec(ctx context.Context, op, query string, args ...any) (int64, error) {
	var n int64
	err := s.retry(ctx, op, func(ctx context.Context) error {
		st, err := s.prepared(ctx, s.w, query)
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
