package credbroker

import (
	"context"
	"time"
)

// Store is the broker's persistence: connectors, tokens, variables, the
// audit trail and the sealed secrets among them. Package sqlite and package
// postgres implement it, and package storetest is the suite both pass.
//
// The store never sees a secret in the clear: callers seal before they
// write and unseal after they read. Every method takes ctx first and
// returns *Error values with CodeNotFound, CodeConflict or CodeUnavailable
// where those apply, never raw database text in the message.
type Store interface {
	ConnectorStore
	TokenStore
	VariableStore
	AuditStore
	SecretStore
	IdentityStore
	// Close releases the store's resources.
	Close() error
}

// ConnectorStore keeps connectors.
type ConnectorStore interface {
	// CreateConnector inserts c; a name or ID already taken is CodeConflict.
	// An audit record, when given, is appended in the same transaction.
	CreateConnector(ctx context.Context, c *Connector, audit *AuditRecord) error
	// GetConnector finds a connector by ID or by name.
	GetConnector(ctx context.Context, idOrName string) (*Connector, error)
	// ConnectorRevision returns the ID and revision of the connector that
	// GetConnector(idOrName) finds, without reading the rest of it: the
	// cheap check that a connector held in memory is still the stored
	// one. CodeNotFound when there is none.
	ConnectorRevision(ctx context.Context, idOrName string) (id string, revision int64, err error)
	// ConnectorGeneration returns a number that changes whenever a
	// connector is created, updated or deleted, by any program on the
	// same database: while it stays the same, no connector changed, so
	// one read confirms every connector a broker holds in memory.
	ConnectorGeneration(ctx context.Context) (int64, error)
	// ListConnectors returns every connector, ordered by name.
	ListConnectors(ctx context.Context) ([]*Connector, error)
	// UpdateConnector replaces c if its stored revision is c.Revision,
	// storing it with Revision+1 (and setting c.Revision); CodeConflict
	// otherwise.
	UpdateConnector(ctx context.Context, c *Connector, audit *AuditRecord) error
	// DeleteConnector removes a connector by ID; CodeConflict while another
	// connector names it as its base.
	DeleteConnector(ctx context.Context, id string, audit *AuditRecord) error
}

// TokenStore keeps API tokens (hashed).
type TokenStore interface {
	CreateToken(ctx context.Context, t *Token, audit *AuditRecord) error
	GetToken(ctx context.Context, id string) (*Token, error)
	ListTokens(ctx context.Context) ([]*Token, error)
	// RevokeToken sets RevokedAt; revoking twice keeps the first time.
	RevokeToken(ctx context.Context, id string, at time.Time, audit *AuditRecord) error
}

// VariableStore keeps global and plan variables.
type VariableStore interface {
	// SetVariable inserts or replaces the variable (Plan, Name).
	SetVariable(ctx context.Context, v *Variable, audit *AuditRecord) error
	DeleteVariable(ctx context.Context, plan, name string, audit *AuditRecord) error
	// ListVariables returns the variables of the given plans ("" is
	// global), ordered by plan then name.
	ListVariables(ctx context.Context, plans ...string) ([]*Variable, error)
}

// AuditStore keeps the hash-chained audit trail.
type AuditStore interface {
	// AppendAudit chains and appends records atomically: either all are
	// stored, in order, or none is and an error says why.
	AppendAudit(ctx context.Context, recs ...*AuditRecord) error
	// ListAudit returns records matching f in Seq order.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
	// AuditHead returns the last record's sequence and hash (0 and
	// AuditGenesis when the trail is empty).
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
}

// SecretStore lets key rotation re-wrap every sealed secret in place.
type SecretStore interface {
	// RewrapSecrets calls fn for each sealed secret whose key version is
	// below version, and stores what fn returns, each record in its own
	// short transaction and only if the record still holds the blob fn saw.
	// It returns how many were re-wrapped. Shared sessions (Fleet) are
	// sealed secrets too, with SessionRef(key).
	RewrapSecrets(ctx context.Context, below int, fn func(ref SecretRef, s Sealed) (Sealed, error)) (int, error)
	// CountSealed returns how many sealed secrets use each key version.
	CountSealed(ctx context.Context) (map[int]int, error)
	// KeyCheck returns the sealed value written at the broker's first
	// start, which proves at each later start that the master key matches
	// the store; CodeNotFound when there is none yet. RewrapSecrets
	// re-wraps it too, with SecretRef{Kind: "meta", ID: "keycheck"}.
	KeyCheck(ctx context.Context) (Sealed, error)
	// InitKeyCheck stores s as the key check unless one exists
	// (CodeConflict then).
	InitKeyCheck(ctx context.Context, s Sealed) error
}

// KeyCheckRef is the reference the key check is sealed under.
var KeyCheckRef = SecretRef{Kind: "meta", ID: "keycheck"}
