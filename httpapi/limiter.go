package httpapi

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the failed-authentication limiter.
const (
	DefaultAuthFailureRate    = 5     // failures per second refilled
	DefaultAuthFailureBurst   = 20    // failures allowed at once
	DefaultAuthLimiterEntries = 10000 // client addresses tracked at most
)

// authLimiter slows down token guessing: each client address has a token
// bucket of failed authentications, and while a bucket is empty the
// address is refused before its token is checked.
//
// Only addresses that failed have an entry. An entry whose bucket has
// refilled completely is indistinguishable from no entry, so sweeps drop
// those without losing anything; memory stays bounded by maxEntries. When
// the table is full of addresses still being limited, every new address
// shares one overflow bucket, so an attacker with many addresses is slowed
// down too and cannot grow the table.
type authLimiter struct {
	limit      rate.Limit
	burst      int
	maxEntries int
	sweepEvery time.Duration

	size atomic.Int64 // len(entries), read without the lock on the fast path

	mu        sync.Mutex
	entries   map[string]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

func newAuthLimiter(perSecond float64, burst, maxEntries int) *authLimiter {
	if burst < 1 {
		burst = 1
	}
	if maxEntries < 1 {
		maxEntries = 1
	}
	// A bucket is full again burst/limit after its last failure: sweeping
	// more often finds nothing new to drop.
	every := time.Duration(float64(burst) / perSecond * float64(time.Second))
	every = min(max(every, time.Second), time.Minute)
	return &authLimiter{
		limit:      rate.Limit(perSecond),
		burst:      burst,
		maxEntries: maxEntries,
		sweepEvery: every,
		entries:    make(map[string]*rate.Limiter),
		overflow:   rate.NewLimiter(rate.Limit(perSecond), burst),
	}
}

// lookup returns the bucket of key, the overflow bucket for a new key when
// the table is full, or nil. l.mu is held.
func (l *authLimiter) lookup(key string) *rate.Limiter {
	if lim, ok := l.entries[key]; ok {
		return lim
	}
	if len(l.entries) >= l.maxEntries {
		return l.overflow
	}
	return nil
}

// blocked reports whether key has no failed authentication left at now,
// and if so how long until it has one.
func (l *authLimiter) blocked(key string, now time.Time) (time.Duration, bool) {
	if l == nil || l.size.Load() == 0 {
		return 0, false // the common case: nobody is failing
	}
	l.mu.Lock()
	lim := l.lookup(key)
	l.mu.Unlock()
	if lim == nil {
		return 0, false
	}
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0, false
	}
	wait := time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second))
	return wait, true
}

// fail records a failed authentication from key at now.
func (l *authLimiter) fail(key string, now time.Time) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if now.Sub(l.lastSweep) >= l.sweepEvery {
		l.sweep(now)
	}
	lim := l.lookup(key)
	if lim == nil {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.entries[key] = lim
		l.size.Store(int64(len(l.entries)))
	}
	l.mu.Unlock()
	lim.AllowN(now, 1)
}

// sweep drops the entries whose bucket is full again. l.mu is held.
func (l *authLimiter) sweep(now time.Time) {
	l.lastSweep = now
	full := float64(l.burst)
	for key, lim := range l.entries {
		if lim.TokensAt(now) >= full {
			delete(l.entries, key)
		}
	}
	l.size.Store(int64(len(l.entries)))
}

// len returns the number of tracked addresses.
func (l *authLimiter) len() int {
	if l == nil {
		return 0
	}
	return int(l.size.Load())
}

// retryAfter renders a wait as whole seconds for the Retry-After header,
// rounding up and never below one.
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// clientKey returns the key a request's client is limited under: its IP
// address, or for IPv6 its /64 network, since one host commonly holds a
// whole /64. With trustProxy it takes the last address of X-Forwarded-For,
// the one the trusted proxy appended, instead of the peer address.
func clientKey(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if vals := r.Header.Values("X-Forwarded-For"); len(vals) > 0 {
			last := vals[len(vals)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if addr, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
				return addrKey(addr)
			}
		}
	}
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	return addrKey(addr)
}

func addrKey(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, err := addr.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return addr.String()
}
