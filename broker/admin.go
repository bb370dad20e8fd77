package broker

import (
	"context"
	"errors"
	"slices"

	"github.com/credbroker/credbroker"
)

// What the web console needs beyond the API's methods: a signed-in
// administrator's token found again by its ID, the broker's health, and
// the connector test and console sign-in made with an admin token. Each
// goes through the same checks and the same audit as its API twin.

// ActiveToken returns the token with ID id while it is neither revoked nor
// expired (CodeUnauthorized otherwise), as Authenticate would, without its
// secret: for a console session, which keeps the ID of the admin token it
// was opened with, so that revoking the token ends its sessions within
// TokenTTL.
func (s *Service) ActiveToken(ctx context.Context, id string) (*credbroker.Token, error) {
	if !validTokenID(id) {
		return nil, unauthorized("malformed token ID")
	}
	now := s.now()
	e, err := s.tokenEntry(ctx, id, now)
	if err != nil {
		return nil, err
	}
	return activeToken(e, id, now)
}

// keyVersions is a Sealer that can tell its key versions (seal.Ring).
type keyVersions interface {
	Versions() []int
	ActiveVersion() int
}

// Health reports the store's state, the master key versions and the
// audit head, for an administrator. A store that does not answer is
// reported in StoreError, not as an error.
func (s *Service) Health(ctx context.Context, tok *credbroker.Token) (*credbroker.Health, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	h := &credbroker.Health{}
	if kv, ok := s.opts.Keys.(keyVersions); ok {
		h.KeyVersions, h.ActiveKeyVersion = slices.Clone(kv.Versions()), kv.ActiveVersion()
	}
	seq, hash, err := s.opts.Store.AuditHead(ctx)
	if err != nil {
		s.log.Warn("health: the store does not answer", "err", err)
		h.StoreError = credbroker.PublicMessage(err)
		return h, nil
	}
	h.AuditHeadSeq, h.AuditHeadHash = seq, hash
	if n, err := s.opts.Store.CountSealed(ctx); err == nil {
		h.SealedByVersion = n
	}
	return h, nil
}

// asAgent is an admin token seen as an agent token for one plan (every
// plan when plan is ""), so that a vend made for an administrator passes
// the same rules as an agent's and is audited under the admin token's ID.
func asAgent(tok *credbroker.Token, plan string) *credbroker.Token {
	t := *tok
	t.Role, t.Plans = credbroker.RoleAgent, plan
	if plan == "" {
		t.Plans = "*"
	}
	return &t
}

// TestConnector makes a real vend from a connector for a plan an
// administrator names: the scope, allow-list and narrowing rules of Vend,
// STS called (or a cached session served) as for an agent, and the vend
// audited under the admin token's ID. The caller shows what it proves
// (identity, expiry), never the secret.
func (s *Service) TestConnector(ctx context.Context, tok *credbroker.Token, req credbroker.VendRequest) (*credbroker.VendResult, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	res, err := s.Vend(ctx, asAgent(tok, req.Plan), req)
	return res, adminReason(err)
}

// adminReason is the real reason of a refusal that an agent is told less
// of (a connector its plan may not use reads as one that does not exist):
// an administrator may learn it, as the audit records it.
func adminReason(err error) error {
	var ar *auditReason
	if errors.As(err, &ar) {
		return ar.err
	}
	return err
}

// AdminConsole is Console for an administrator: a vend as TestConnector
// makes, turned into an AWS Management Console sign-in URL.
func (s *Service) AdminConsole(ctx context.Context, tok *credbroker.Token, req credbroker.ConsoleRequest) (*credbroker.ConsoleResult, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	res, err := s.Console(ctx, asAgent(tok, req.Plan), req)
	return res, adminReason(err)
}
