package broker

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/credcache"
)

// Defaults of the broker's outbound STS budget. STS allows about 600
// requests per second per account and region, shared by everything in the
// account; the default leaves most of it to others, and to other brokers of
// the same site (brokers on one PostgreSQL database share one budget, see
// Options.Fleet; others keep one each).
const (
	DefaultSTSRate  = 100.0
	DefaultSTSBurst = 50
	DefaultSTSWait  = 5 * time.Second
)

// STSBudget bounds the STS calls the broker makes for each base identity
// and region: a token bucket of Burst calls refilled at Rate per second.
// Every attempt counts, retries included; vends served from the cache make
// no call and so spend nothing. The identity is the base access key ID for
// stored keys, "default" for the broker host's own chain, and the account
// of the base connector's role for a connector on another connector.
//
// With a fleet (Options.Fleet) the bucket is one row of the database,
// refilled by the database's clock, and bounds the calls of every broker
// on it together, each taking turns at the Rate and Burst it was given
// (give them all the same).
type STSBudget struct {
	// Rate is the sustained number of calls per second. Zero takes
	// DefaultSTSRate; a negative rate turns the budget off.
	Rate float64
	// Burst is how many calls may be made at once. Zero takes
	// DefaultSTSBurst.
	Burst int
	// MaxWait is how long a call may wait for its turn. A call that would
	// wait longer (or past its deadline) is refused at once with
	// CodeThrottled. Zero takes DefaultSTSWait.
	MaxWait time.Duration
}

// withDefaults fills the zero fields.
func (b STSBudget) withDefaults() STSBudget {
	if b.Rate == 0 {
		b.Rate = DefaultSTSRate
	}
	if b.Burst <= 0 {
		b.Burst = DefaultSTSBurst
	}
	if b.MaxWait <= 0 {
		b.MaxWait = DefaultSTSWait
	}
	return b
}

// budgetID is the identity whose STS quota a call spends: key identifies
// it, shown describes it in messages without a secret.
type budgetID struct {
	key, shown string
}

// stsBudgets holds one limiter per identity and region; with a fleet,
// the turns are taken in the fleet's buckets instead, and the limiters
// stand in only while the database cannot be asked.
type stsBudgets struct {
	spec  STSBudget
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	fleet credbroker.Fleet
	obs   FleetObserver
	log   *slog.Logger

	mu   sync.Mutex
	lims map[string]*rate.Limiter
}

func newSTSBudgets(spec STSBudget, now func() time.Time, sleep func(context.Context, time.Duration) error) *stsBudgets {
	if sleep == nil {
		sleep = sleepContext
	}
	return &stsBudgets{spec: spec.withDefaults(), now: now, sleep: sleep, obs: noFleetObserver{}, log: slog.New(slog.DiscardHandler),
		lims: map[string]*rate.Limiter{}}
}

// off reports whether the budget is turned off.
func (b *stsBudgets) off() bool { return b.spec.Rate < 0 }

func (b *stsBudgets) limiter(key string) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	lim, ok := b.lims[key]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(b.spec.Rate), b.spec.Burst)
		b.lims[key] = lim
	}
	return lim
}

// gate returns the IssueRequest.BeforeAttempt of calls by id in region:
// it takes a turn in the budget, waiting at most MaxWait (and never past
// the call's deadline), or refuses with CodeThrottled. With a fleet the
// turn is taken in the bucket the brokers on the database share (see
// fleetGate).
//
// An advisory refresh of the session cache (credcache.Advisory) does not
// wait at all: it takes a turn only if one is free now. Nobody waits for
// it, since the cached session is served meanwhile, and a turn reserved
// ahead would push back the vends that cannot be served without a call;
// refused, it fails like any other refresh and the cache backs off (with
// jitter, so that sessions refreshed together spread out) until the
// mandatory window, where vends wait their turn as usual.
func (b *stsBudgets) gate(id budgetID, region string) func(ctx context.Context) error {
	if b.off() {
		return nil
	}
	key := id.key + "\x00" + region
	local := func(ctx context.Context) error { return b.takeLocal(ctx, id, region, key) }
	if b.fleet != nil {
		return b.fleetGate(id, region, key, local)
	}
	return local
}

// limit is how long a call under ctx may wait for its turn.
func (b *stsBudgets) limit(ctx context.Context) time.Duration {
	limit := b.spec.MaxWait
	if credcache.Advisory(ctx) {
		limit = 0
	}
	if dl, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(dl))
	}
	return max(limit, 0)
}

// takeLocal takes a turn in this broker's own limiter of key.
func (b *stsBudgets) takeLocal(ctx context.Context, id budgetID, region, key string) error {
	lim := b.limiter(key)
	now := b.now()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		b.obs.BudgetTurn(0, true, false)
		return b.refusal(id, region, 0, false)
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		b.obs.BudgetTurn(0, false, false)
		return nil
	}
	if d > b.limit(ctx) {
		r.CancelAt(now)
		b.obs.BudgetTurn(0, true, false)
		return b.refusal(id, region, d, false)
	}
	if err := b.sleep(ctx, d); err != nil {
		r.CancelAt(b.now())
		b.obs.BudgetTurn(d, true, false)
		return b.gaveUp(id, region, err)
	}
	b.obs.BudgetTurn(d, false, false)
	return nil
}

// gaveUp is the error of a call whose context ended while it waited for
// its turn.
func (b *stsBudgets) gaveUp(id budgetID, region string, err error) error {
	return credbroker.Errorf(credbroker.CodeThrottled, "sts",
		"the call to STS gave up while waiting for its turn in the broker's STS budget for %s in %s", id.shown, region).
		WithFix("retry in a few seconds").WithCause(err)
}

// refusal is the error of a call the budget cannot take in time: wait is
// how far away the next turn is, when known; fleet says the budget is the
// one the brokers on the database share.
func (b *stsBudgets) refusal(id budgetID, region string, wait time.Duration, fleet bool) error {
	why := "no call may be made"
	whose := "the broker's STS budget"
	switch {
	case wait > 0:
		why = fmt.Sprintf("the next turn is %s away, longer than this call may wait", wait.Round(time.Millisecond))
	case fleet:
		why = "no turn is free within the time this call may wait"
	}
	if fleet {
		whose = "the STS budget that the brokers on this database share"
	}
	return credbroker.Errorf(credbroker.CodeThrottled, "sts",
		"%s for %s in %s (%s calls per second, bursts of %d) is used up: %s",
		whose, id.shown, region, strconv.FormatFloat(b.spec.Rate, 'f', -1, 64), b.spec.Burst, why).
		WithFix("retry in a few seconds (sessions already issued keep being served); if builds often meet this, an administrator " +
			"can raise the budget (serve --sts-rate, --sts-burst; STS allows about 600 calls per second per account and region) " +
			"or let a plan's builds share one session (connector --session-mode plan)")
}

// sweep drops the limiters that are full again: an identity that has not
// called for a while costs nothing.
func (b *stsBudgets) sweep() {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, lim := range b.lims {
		if lim.TokensAt(now) >= float64(b.spec.Burst) {
			delete(b.lims, k)
		}
	}
}

// size returns how many limiters are kept.
func (b *stsBudgets) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lims)
}

// sleepContext waits d, or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// budgetID returns the identity whose STS quota the calls of c spend.
func (s *Service) budgetID(ctx context.Context, c *credbroker.Connector, depth int) budgetID {
	switch c.Base {
	case credbroker.BaseKeys:
		return budgetID{key: "key:" + c.AccessKeyID, shown: "access key " + credbroker.MaskKeyID(c.AccessKeyID)}
	case credbroker.BaseDefault:
		return budgetID{key: "default", shown: "the broker host's default credentials"}
	case credbroker.BaseConnector:
		bc, err := s.connector(ctx, c.BaseConnector)
		if err != nil || depth >= maxChainDepth {
			return budgetID{key: "connector:" + c.BaseConnector, shown: "base connector " + c.BaseConnector}
		}
		if bc.Principal == credbroker.PrincipalAssumedRole {
			if acct := arnAccount(bc.RoleARN); acct != "" {
				return budgetID{key: "account:" + acct, shown: "account " + acct}
			}
		}
		// A federated user or session is in the account of the keys
		// that made it.
		return s.budgetID(ctx, bc, depth+1)
	}
	return budgetID{key: "connector:" + c.ID, shown: "connector " + c.Name}
}

// arnAccount returns the account ID of an ARN, or "".
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[4]
}
