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

type storeAudit struct{ s credbroker.Store }

func (a storeAudit) Append(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	return a.s.AppendAudit(ctx, recs...)
}

// Service is the broker. It is safe for concurrent use.
type Service struct {
	opts Options
	log  *slog.Logger

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
	if opts.Audit == nil {
		opts.Audit = storeAudit{opts.Store}
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
	s := &Service{
		opts:     opts,
		log:      opts.Logger,
		tokens:   map[string]tokenEntry{},
		conns:    map[string]*connEntry{},
		vends:    map[string]*vendEntry{},
		ids:      idTokens{seed: maphash.MakeSeed(), cache: map[uint64]verifiedEntry{}, seen: map[string]time.Time{}},
		budget:   newSTSBudgets(opts.STSBudget, opts.Now, opts.Sleep),
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

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error {
	_, _, err := s.opts.Store.AuditHead(ctx)
	return err
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
