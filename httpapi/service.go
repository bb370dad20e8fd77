package httpapi

import (
	"context"

	"github.com/credbroker/credbroker"
)

// Service is the broker as the HTTP server needs it; package broker
// implements it. The server only authenticates: every method after
// Authenticate receives the caller's token and decides itself what that
// token may do (admin or agent role, plan patterns), answering with
// *credbroker.Error values whose Message is safe to show to the caller.
type Service interface {
	// Authenticate returns the token whose secret is bearer;
	// CodeUnauthorized when it is wrong, expired or revoked.
	Authenticate(ctx context.Context, bearer string) (*credbroker.Token, error) // CodeUnauthorized on wrong/expired/revoked
	// Vend yields credentials from a connector.
	Vend(ctx context.Context, tok *credbroker.Token, req credbroker.VendRequest) (*credbroker.VendResult, error)
	// AgentVariables returns the global and the plan's variables with
	// secret values decrypted, for an agent running the plan.
	AgentVariables(ctx context.Context, tok *credbroker.Token, plan string) ([]credbroker.Variable, error) // global + plan, secret values decrypted
	// Console returns an AWS Management Console sign-in URL.
	Console(ctx context.Context, tok *credbroker.Token, req credbroker.ConsoleRequest) (*credbroker.ConsoleResult, error)
	// CreateConnector adds a connector.
	CreateConnector(ctx context.Context, tok *credbroker.Token, spec credbroker.ConnectorSpec) (*credbroker.ConnectorInfo, error)
	// UpdateConnector replaces a connector named by ID or name.
	UpdateConnector(ctx context.Context, tok *credbroker.Token, idOrName string, spec credbroker.ConnectorSpec) (*credbroker.ConnectorInfo, error)
	// GetConnector returns a connector by ID or name.
	GetConnector(ctx context.Context, tok *credbroker.Token, idOrName string) (*credbroker.ConnectorInfo, error)
	// ListConnectors returns every connector.
	ListConnectors(ctx context.Context, tok *credbroker.Token) ([]credbroker.ConnectorInfo, error)
	// DeleteConnector removes a connector by ID or name.
	DeleteConnector(ctx context.Context, tok *credbroker.Token, idOrName string) error
	// CreateToken creates an API token; its secret is returned this once.
	CreateToken(ctx context.Context, tok *credbroker.Token, spec credbroker.TokenSpec) (*credbroker.NewToken, error)
	// ListTokens returns every API token (without secrets or hashes).
	ListTokens(ctx context.Context, tok *credbroker.Token) ([]*credbroker.Token, error)
	// RevokeToken revokes the token with the given ID.
	RevokeToken(ctx context.Context, tok *credbroker.Token, id string) error
	// SetVariable inserts or replaces a global or plan variable.
	SetVariable(ctx context.Context, tok *credbroker.Token, v credbroker.Variable) error
	// DeleteVariable removes a variable; plan "" is the global scope.
	DeleteVariable(ctx context.Context, tok *credbroker.Token, plan, name string) error
	// ListVariables returns a plan's (or, for "", the global) variables for
	// an administrator, secret values blank.
	ListVariables(ctx context.Context, tok *credbroker.Token, plan string) ([]credbroker.Variable, error) // admin view: secret values blank
	// ListAudit returns the audit records matching f in sequence order.
	ListAudit(ctx context.Context, tok *credbroker.Token, f credbroker.AuditFilter) ([]credbroker.AuditRecord, error)
	// VerifyAudit checks the whole audit chain.
	VerifyAudit(ctx context.Context, tok *credbroker.Token) (*credbroker.AuditReport, error)
	// Ready reports whether the broker can serve (its store answers).
	Ready(ctx context.Context) error
}

// TokenKnower is implemented by a Service that can tell, without asking
// its store, whether it holds the token a bearer value names (one it has
// looked up before; the secret is not checked here). The server checks
// such tokens as usual from an address it is limiting for failed
// authentications, and refuses everything else from there before any
// lookup, so that a limited address costs no store reads.
type TokenKnower interface {
	KnowsToken(bearer string) bool
}
