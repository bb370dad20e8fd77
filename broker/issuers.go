package broker

import (
	"context"
	"slices"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/identity"
)

// The administration of trusted issuers and bindings: each change checked
// by package identity (the messages name the field), stored with its
// audit record in one transaction, and seen by every broker on the store
// within IdentityTTL. Updates replace the whole record and name the
// revision they are based on (0: the stored one).

// CreateIssuer trusts a new OIDC issuer.
func (s *Service) CreateIssuer(ctx context.Context, tok *credbroker.Token, spec credbroker.TrustedIssuer) (*credbroker.TrustedIssuer, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	if err := identity.CheckIssuer(&spec); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	spec.CreatedAt, spec.UpdatedAt, spec.Revision = now, now, 0
	rec := s.adminRecord(tok.ID, credbroker.ActionIssuerCreate, "issuer "+spec.Name+" ("+spec.URL+")")
	if err := s.opts.Store.CreateIssuer(ctx, &spec, rec); err != nil {
		return nil, err
	}
	s.forgetIdentities(spec.Name)
	return &spec, nil
}

// UpdateIssuer replaces the issuer name's settings.
func (s *Service) UpdateIssuer(ctx context.Context, tok *credbroker.Token, name string, spec credbroker.TrustedIssuer) (*credbroker.TrustedIssuer, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	prev, err := s.opts.Store.GetIssuer(ctx, name)
	if err != nil {
		return nil, err
	}
	if spec.Name == "" {
		spec.Name = name
	}
	if spec.Name != name {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "name", "an issuer cannot be renamed").
			WithFix("create an issuer of the new name, move the bindings, and delete this one")
	}
	if spec.Revision == 0 {
		spec.Revision = prev.Revision
	}
	if err := identity.CheckIssuer(&spec); err != nil {
		return nil, err
	}
	spec.CreatedAt, spec.UpdatedAt = prev.CreatedAt, s.now().UTC()
	rec := s.adminRecord(tok.ID, credbroker.ActionIssuerUpdate, "issuer "+name)
	if err := s.opts.Store.UpdateIssuer(ctx, &spec, rec); err != nil {
		return nil, err
	}
	s.forgetIdentities(name)
	return &spec, nil
}

// GetIssuer returns the issuer name.
func (s *Service) GetIssuer(ctx context.Context, tok *credbroker.Token, name string) (*credbroker.TrustedIssuer, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	return s.opts.Store.GetIssuer(ctx, name)
}

// ListIssuers returns every trusted issuer, by name.
func (s *Service) ListIssuers(ctx context.Context, tok *credbroker.Token) ([]credbroker.TrustedIssuer, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	list, err := s.opts.Store.ListIssuers(ctx)
	return deref(list), err
}

// DeleteIssuer stops trusting the issuer name; refused while a binding
// names it.
func (s *Service) DeleteIssuer(ctx context.Context, tok *credbroker.Token, name string) error {
	if err := requireAdmin(tok); err != nil {
		return err
	}
	rec := s.adminRecord(tok.ID, credbroker.ActionIssuerDelete, "issuer "+credbroker.CleanField(name, 64))
	if err := s.opts.Store.DeleteIssuer(ctx, name, rec); err != nil {
		return err
	}
	s.forgetIdentities(name)
	return nil
}

// CreateBinding adds a binding of an issuer's tokens to plans.
func (s *Service) CreateBinding(ctx context.Context, tok *credbroker.Token, spec credbroker.Binding) (*credbroker.Binding, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	if _, err := identity.Compile(&spec); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	spec.CreatedAt, spec.UpdatedAt, spec.Revision = now, now, 0
	rec := s.adminRecord(tok.ID, credbroker.ActionBindingCreate, "binding "+spec.Name+" of issuer "+spec.Issuer)
	if err := s.opts.Store.CreateBinding(ctx, &spec, rec); err != nil {
		return nil, err
	}
	s.forgetIdentities("")
	return &spec, nil
}

// UpdateBinding replaces the binding name.
func (s *Service) UpdateBinding(ctx context.Context, tok *credbroker.Token, name string, spec credbroker.Binding) (*credbroker.Binding, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	prev, err := s.opts.Store.GetBinding(ctx, name)
	if err != nil {
		return nil, err
	}
	if spec.Name == "" {
		spec.Name = name
	}
	if spec.Name != name {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "name", "a binding cannot be renamed").
			WithFix("create a binding of the new name and delete this one")
	}
	if spec.Revision == 0 {
		spec.Revision = prev.Revision
	}
	if _, err := identity.Compile(&spec); err != nil {
		return nil, err
	}
	spec.CreatedAt, spec.UpdatedAt = prev.CreatedAt, s.now().UTC()
	rec := s.adminRecord(tok.ID, credbroker.ActionBindingUpdate, "binding "+name)
	if err := s.opts.Store.UpdateBinding(ctx, &spec, rec); err != nil {
		return nil, err
	}
	s.forgetIdentities("")
	return &spec, nil
}

// GetBinding returns the binding name.
func (s *Service) GetBinding(ctx context.Context, tok *credbroker.Token, name string) (*credbroker.Binding, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	return s.opts.Store.GetBinding(ctx, name)
}

// ListBindings returns every binding, by name.
func (s *Service) ListBindings(ctx context.Context, tok *credbroker.Token) ([]credbroker.Binding, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	list, err := s.opts.Store.ListBindings(ctx)
	return deref(list), err
}

// DeleteBinding removes the binding name.
func (s *Service) DeleteBinding(ctx context.Context, tok *credbroker.Token, name string) error {
	if err := requireAdmin(tok); err != nil {
		return err
	}
	rec := s.adminRecord(tok.ID, credbroker.ActionBindingDelete, "binding "+credbroker.CleanField(name, 64))
	if err := s.opts.Store.DeleteBinding(ctx, name, rec); err != nil {
		return err
	}
	s.forgetIdentities("")
	return nil
}

// deref copies a list of records into values.
func deref[T any](list []*T) []T {
	out := make([]T, 0, len(list))
	for _, p := range list {
		out = append(out, *p)
	}
	return slices.Clip(out)
}
