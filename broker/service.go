// Package broker is the broker's service layer: connectors with their
// secrets sealed, tokens, variables, the vend with its permission rules and
// cache, and the audit trail. It knows nothing of HTTP, SQL or the AWS SDK:
// it works through the small interfaces below, which package awscreds,
// package seal and the stores satisfy.
package broker

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credbroker/credbroker"
)

// Sealer encrypts and decrypts stored secrets (package seal's Ring).
type Sealer interface {
	Seal(ref credbroker.SecretRef, plaintext []byte) (credbroker.Sealed, error)
	Open(ref credbroker.SecretRef, s credbroker.Sealed) ([]byte, error)
}

// Reloader is a Sealer whose key file can be re-read, after a rotation by
// another process.
type Reloader interface {
	Reload() error
}

// Issuer calls STS (package awscreds' Issuer).
type Issuer interface {
	// Check runs the offline checks of Issue and returns its warnings.
	Check(req credbroker.IssueRequest) ([]string, error)
	Issue(ctx context.Context, req credbroker.IssueRequest) (credbroker.Credentials, error)
}

// Options configure a Service. Store, Keys and Issuer are required.
type Options struct {
	Store  credbroker.Store
	Keys   Sealer
	Issuer Issuer
	// Partition maps a region to its partition ID (awscreds.LookupRegion).
	Partition func(region string) (string, error)
	// DefaultChain yields the broker host's own credentials, for
	// connectors whose base is "default".
	DefaultChain func(ctx context.Context) (credbroker.Provider, error)
	// Signin turns credentials into a console sign-in URL.
	Signin func(ctx context.Context, creds credbroker.Credentials, region, destination string, duration time.Duration) (string, error)
	// Audit writes audit records; the store's AppendAudit when nil.
	Audit AuditWriter
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger; discards when nil.
	Logger *slog.Logger
	// TokenTTL is how long an authenticated token is trusted before the
	// store is asked again (a token revoked on another broker stops
	// working within it); 2 s when zero.
	TokenTTL time.Duration
	// ConnectorTTL is how long a connector read from the store is used
	// before the store is asked again whether it still holds that
	// revision (changes made on another broker, and deletions, show
	// within it); 1 s when zero. The store's connector generation answers
	// for all connectors at once while none changed; only a changed
	// connector is read and opened again.
	ConnectorTTL time.Duration
	// DefaultMinRemaining is the lifetime vended credentials have left at
	// least, when a request asks for none; 60 s when zero.
	DefaultMinRemaining time.Duration
	// STSBudget bounds the broker's STS calls per base identity and
	// region; the zero value takes the defaults.
	STSBudget STSBudget
	// Sleep waits d or until ctx ends, for a turn in the STS budget; nil
	// waits on a real timer. Tests inject it along with Now.
	Sleep func(ctx context.Context, d time.Duration) error
	// RefusalBurst is how many refused vends of one token are recorded
	// one by one in each RefusalWindow; the others of the window are
	// counted, and one record says how many there were and why.
	// DefaultRefusalBurst and DefaultRefusalWindow when zero; a negative
	// burst records every refusal.
	RefusalBurst  int
	RefusalWindow time.Duration
	// VendTimeout bounds a vend's work, which goes on when its caller
	// hangs up so that its outcome is audited; DefaultVendTimeout when
	// zero. The STS deadline and the budget wait are shorter bounds
	// within it.
	VendTimeout time.Duration
	// AuditTimeout bounds the append of an audit record, which its caller
	// cannot cancel; DefaultAuditTimeout when zero.
	AuditTimeout time.Duration
	// Verifier verifies the ID tokens presented in place of agent tokens
	// (package oidc); nil refuses every ID token.
	Verifier TokenVerifier
	// IdentityTTL is how long the issuers and bindings read from the
	// store are used before the store is asked whether they changed (by
	// its identity generation); 1 s when zero.
	IdentityTTL time.Duration
	// Fleet is what the brokers on the store's database share (the
	// PostgreSQL store's Fleet): with it, a session one of them got from
	// STS is served by all, identical cold requests at different brokers
	// make one STS call, and the STS budget is theirs together (see
	// fleet.go). Nil keeps all of this in the broker's own process, as on
	// the embedded store.
	Fleet credbroker.Fleet
	// FleetWait bounds how long a vend waits for another broker's STS
	// call for the same session before it calls STS itself; give it the
	// STS deadline. DefaultFleetWait when zero.
	FleetWait time.Duration
	// FleetObserver is told how sessions were found in the fleet and
	// budget turns taken, for metrics; nil tells no one.
	FleetObserver FleetObserver
	// Observer is told what the broker does, for metrics; nil observes
	// nothing.
	Observer Observer
}

// Defaults of Options.
const (
	DefaultVendTimeout  = 30 * time.Second
	DefaultAuditTimeout = 10 * time.Second
)

// AuditWriter appends audit records; Append returns only once the records
// are durable.
type AuditWriter interface {
	Append(ctx context.Context, recs ...*credbroker.AuditRecord) error
}

type storeAudit struct {
	s   credbroker.Store
	obs Observer
	now func() time.Time
}

func (a storeAudit) Append(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	if a.obs == nil {
		return a.s.AppendAudit(ctx, recs...)
	}
	began := a.now()
	err := a.s.AppendAudit(ctx, recs...)
	observeCommit(a.obs, len(recs), a.now().Sub(began), err)
	return err
}

// Service is the broker. It is safe for concurrent use.
type Service struct {
	opts Options
	log  *slog.Logger
	obs  Observer

	tokMu  sync.RWMutex
	tokens map[string]tokenEntry

	connMu sync.RWMutex
	conns  map[string]*connEntry // by ID and by name
	genMu  sync.Mutex            // one connector generation read at a time
	gen    atomic.Pointer[generation]

	vendMu sync.Mutex
	vends  map[string]*vendEntry

	budget   *stsBudgets
	refusals *refusalWindows

	defaultMu    sync.Mutex
	defaultChain credbroker.Provider

	ids idTokens

	stop chan struct{}
	done chan struct{}

	// writeOK is when (the broker clock's UnixNano) a write to the store
	// last succeeded, writeFailing whether one failed since, and
	// writeFailures how many failed in all. The readiness check probes
	// with a write of its own unless the last write succeeded lately; it
	// keeps a probe's answer for probeEvery unless a write failed since.
	writeOK       atomic.Int64
	writeFailing  atomic.Bool
	writeFailures atomic.Int64
	probeMu       sync.Mutex
	probeAt       time.Time
	probeErr      error
	probeFailures int64

	// inflight counts the vends at work, those whose caller hung up
	// included; idle is closed when it drops to zero while Drain waits.
	inflightMu sync.Mutex
	inflight   int
	idle       chan struct{}
}

// busy counts a vend in flight until the function it returns is called.
func (s *Service) busy() func() {
	s.inflightMu.Lock()
	s.inflight++
	s.inflightMu.Unlock()
	return func() {
		s.inflightMu.Lock()
		s.inflight--
		if s.inflight == 0 && s.idle != nil {
			close(s.idle)
			s.idle = nil
		}
		s.inflightMu.Unlock()
	}
}

// InFlight returns how many vends and console sign-ins are at work, those
// whose caller hung up included.
func (s *Service) InFlight() int {
	s.inflightMu.Lock()
	defer s.inflightMu.Unlock()
	return s.inflight
}

// Drain waits until no vend or console sign-in is at work (their callers
// may have hung up: the broker still finishes and audits them), or until
// ctx ends, with its error. The HTTP server stops taking requests first;
// Close and the audit writer's Close then write the last records.
func (s *Service) Drain(ctx context.Context) error {
	s.inflightMu.Lock()
	if s.inflight == 0 {
		s.inflightMu.Unlock()
		return nil
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	idle := s.idle
	s.inflightMu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// New returns a Service and starts its cache sweeper; Close stops it.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Keys == nil || opts.Issuer == nil {
		return nil, credbroker.Errorf(credbroker.CodeInternal, "broker", "store, keys and issuer are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}

	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 2 * time.Second
	}
	if opts.ConnectorTTL <= 0 {
		opts.ConnectorTTL = time.Second
	}
	if opts.DefaultMinRemaining <= 0 {
		opts.DefaultMinRemaining = time.Minute
	}
	if opts.VendTimeout <= 0 {
		opts.VendTimeout = DefaultVendTimeout
	}
	if opts.AuditTimeout <= 0 {
		opts.AuditTimeout = DefaultAuditTimeout
	}
	if opts.IdentityTTL <= 0 {
		opts.IdentityTTL = time.Second
	}
	if opts.Partition == nil {
		opts.Partition = func(string) (string, error) { return "aws", nil }
	}
	if opts.FleetWait <= 0 {
		opts.FleetWait = DefaultFleetWait
	}
	if opts.FleetObserver == nil {
		opts.FleetObserver = noFleetObserver{}
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.Audit == nil {
		opts.Audit = storeAudit{opts.Store, opts.Observer, opts.Now}
	}
	s := &Service{
		opts:     opts,
		log:      opts.Logger,
		obs:      opts.Observer,
		tokens:   map[string]tokenEntry{},
		conns:    map[string]*connEntry{},
		vends:    map[string]*vendEntry{},
		ids:      idTokens{seed: maphash.MakeSeed(), cache: map[uint64]verifiedEntry{}, seen: map[string]time.Time{}},
		budget:   newSTSBudgets(opts.STSBudget, opts.Now, observedSleep(opts.Sleep, opts.Observer)),
		refusals: newRefusalWindows(opts.RefusalBurst, opts.RefusalWindow),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.budget.fleet, s.budget.obs, s.budget.log = opts.Fleet, opts.FleetObserver, opts.Logger
	go s.sweeper()
	return s, nil
}

// Close stops the background sweeper and writes the records of refused
// vends still being counted.
func (s *Service) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
		<-s.done
		s.flushRefusals(true)
	}
	return nil
}

// WriteProber is a store that can prove it takes writes (the SQL stores'
// ProbeWrite commits a change to one row).
type WriteProber interface {
	ProbeWrite(ctx context.Context, now time.Time) error
}

// Readiness bounds: a committed audit record younger than writeFresh
// proves the store takes writes; otherwise a probe write does, at most
// one per probeEvery (/readyz is not authenticated: asking it often
// cannot make the broker write often).
const (
	writeFresh = 5 * time.Second
	probeEvery = time.Second
)

// Ready reports whether the broker can serve vends: the store answers
// reads and takes writes (a vend whose audit record cannot be written is
// refused, so a broker on a full disk, a read-only file system or a
// database that refuses writes is not ready).
func (s *Service) Ready(ctx context.Context) error {
	if _, _, err := s.opts.Store.AuditHead(ctx); err != nil {
		s.obs.StoreError(StoreOpReady)
		return err
	}
	return s.writable(ctx)
}

// writable reports whether the store took a write lately, or takes a
// probe write now.
func (s *Service) writable(ctx context.Context) error {
	p, ok := s.opts.Store.(WriteProber)
	if !ok {
		return nil
	}
	now := s.now()
	if !s.writeFailing.Load() && now.UnixNano()-s.writeOK.Load() < int64(writeFresh) {
		return nil
	}
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	failures := s.writeFailures.Load()
	if !s.probeAt.IsZero() && now.Sub(s.probeAt) < probeEvery && failures == s.probeFailures {
		return s.probeErr
	}
	err := p.ProbeWrite(ctx, now)
	s.noteWrite(err)
	s.probeAt, s.probeErr, s.probeFailures = now, err, s.writeFailures.Load()
	if err != nil {
		s.obs.StoreError(StoreOpProbe)
	}
	return err
}

// noteWrite records the outcome of a write to the store: a success, or a
// failure of the store (not of a rule).
func (s *Service) noteWrite(err error) {
	switch {
	case err == nil:
		s.writeOK.Store(s.now().UnixNano())
		s.writeFailing.Store(false)
	case credbroker.ErrorCode(err) == credbroker.CodeUnavailable:
		s.writeFailing.Store(true)
		s.writeFailures.Add(1)
	}
}

func (s *Service) now() time.Time { return s.opts.Now() }

// sweeper drops expired vend cache entries once a minute.
func (s *Service) sweeper() {
	defer close(s.done)
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}
