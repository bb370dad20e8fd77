package httpapi

import (
	"context"
	"net/http"
	"net/url"

	"github.com/credbroker/credbroker"
)

// IdentityService is the administration of trusted OIDC issuers and of
// the bindings of their tokens to plans (package broker implements it).
// A Service that does not implement it answers those routes with 404.
type IdentityService interface {
	// CreateIssuer trusts a new issuer.
	CreateIssuer(ctx context.Context, tok *credbroker.Token, spec credbroker.TrustedIssuer) (*credbroker.TrustedIssuer, error)
	// UpdateIssuer replaces an issuer's settings.
	UpdateIssuer(ctx context.Context, tok *credbroker.Token, name string, spec credbroker.TrustedIssuer) (*credbroker.TrustedIssuer, error)
	// GetIssuer returns an issuer.
	GetIssuer(ctx context.Context, tok *credbroker.Token, name string) (*credbroker.TrustedIssuer, error)
	// ListIssuers returns every issuer.
	ListIssuers(ctx context.Context, tok *credbroker.Token) ([]credbroker.TrustedIssuer, error)
	// DeleteIssuer stops trusting an issuer.
	DeleteIssuer(ctx context.Context, tok *credbroker.Token, name string) error
	// CreateBinding adds a binding.
	CreateBinding(ctx context.Context, tok *credbroker.Token, spec credbroker.Binding) (*credbroker.Binding, error)
	// UpdateBinding replaces a binding.
	UpdateBinding(ctx context.Context, tok *credbroker.Token, name string, spec credbroker.Binding) (*credbroker.Binding, error)
	// GetBinding returns a binding.
	GetBinding(ctx context.Context, tok *credbroker.Token, name string) (*credbroker.Binding, error)
	// ListBindings returns every binding.
	ListBindings(ctx context.Context, tok *credbroker.Token) ([]credbroker.Binding, error)
	// DeleteBinding removes a binding.
	DeleteBinding(ctx context.Context, tok *credbroker.Token, name string) error
}

type issuerList struct {
	Issuers []credbroker.TrustedIssuer `json:"issuers"`
}

type bindingList struct {
	Bindings []credbroker.Binding `json:"bindings"`
}

// identitySvc returns the service's identity administration, or the 404
// of a broker without one.
func (s *Server) identitySvc() (IdentityService, error) {
	if is, ok := s.svc.(IdentityService); ok {
		return is, nil
	}
	return nil, credbroker.Errorf(credbroker.CodeNotFound, "path", "this broker has no OIDC issuers").WithCause(errNoRoute)
}

// identityCall runs one identity administration call and answers with
// its result (status on success; 204 when it returns nothing).
func identityCall[T any](s *Server, ex *exchange, status int, fn func(is IdentityService) (T, error)) error {
	is, err := s.identitySvc()
	if err != nil {
		return err
	}
	v, err := fn(is)
	if err != nil {
		return err
	}
	return s.writeJSON(ex, status, v)
}

func (s *Server) listIssuers(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	return identityCall(s, ex, http.StatusOK, func(is IdentityService) (issuerList, error) {
		list, err := is.ListIssuers(r.Context(), tok)
		return issuerList{Issuers: nonNil(list)}, err
	})
}

func (s *Server) createIssuer(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	var spec credbroker.TrustedIssuer
	if err := readJSON(ex.w, r, s.opts.MaxBodyBytes, &spec); err != nil {
		return err
	}
	return identityCall(s, ex, http.StatusCreated, func(is IdentityService) (*credbroker.TrustedIssuer, error) {
		out, err := is.CreateIssuer(r.Context(), tok, spec)
		if err == nil && out == nil {
			err = errNoResult
		}
		if err == nil {
			ex.Header().Set("Location", "/v1/issuers/"+url.PathEscape(out.Name))
		}
		return out, err
	})
}

func (s *Server) getIssuer(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	return identityCall(s, ex, http.StatusOK, func(is IdentityService) (*credbroker.TrustedIssuer, error) {
		out, err := is.GetIssuer(r.Context(), tok, r.PathValue("name"))
		if err == nil && out == nil {
			err = errNoResult
		}
		return out, err
	})
}

func (s *Server) updateIssuer(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	var spec credbroker.TrustedIssuer
	if err := readJSON(ex.w, r, s.opts.MaxBodyBytes, &spec); err != nil {
		return err
	}
	return identityCall(s, ex, http.StatusOK, func(is IdentityService) (*credbroker.TrustedIssuer, error) {
		out, err := is.UpdateIssuer(r.Context(), tok, r.PathValue("name"), spec)
		if err == nil && out == nil {
			err = errNoResult
		}
		return out, err
	})
}

func (s *Server) deleteIssuer(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	is, err := s.identitySvc()
	if err != nil {
		return err
	}
	if err := is.DeleteIssuer(r.Context(), tok, r.PathValue("name")); err != nil {
		return err
	}
	return noContent(ex)
}

func (s *Server) listBindings(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	return identityCall(s, ex, http.StatusOK, func(is IdentityService) (bindingList, error) {
		list, err := is.ListBindings(r.Context(), tok)
		return bindingList{Bindings: nonNil(list)}, err
	})
}

func (s *Server) createBinding(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	var spec credbroker.Binding
	if err := readJSON(ex.w, r, s.opts.MaxBodyBytes, &spec); err != nil {
		return err
	}
	return identityCall(s, ex, http.StatusCreated, func(is IdentityService) (*credbroker.Binding, error) {
		out, err := is.CreateBinding(r.Context(), tok, spec)
		if err == nil && out == nil {
			err = errNoResult
		}
		if err == nil {
			ex.Header().Set("Location", "/v1/bindings/"+url.PathEscape(out.Name))
		}
		return out, err
	})
}

func (s *Server) getBinding(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	return identityCall(s, ex, http.StatusOK, func(is IdentityService) (*credbroker.Binding, error) {
		out, err := is.GetBinding(r.Context(), tok, r.PathValue("name"))
		if err == nil && out == nil {
			err = errNoResult
		}
		return out, err
	})
}

func (s *Server) updateBinding(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	var spec credbroker.Binding
	if err := readJSON(ex.w, r, s.opts.MaxBodyBytes, &spec); err != nil {
		return err
	}
	return identityCall(s, ex, http.StatusOK, func(is IdentityService) (*credbroker.Binding, error) {
		out, err := is.UpdateBinding(r.Context(), tok, r.PathValue("name"), spec)
		if err == nil && out == nil {
			err = errNoResult
		}
		return out, err
	})
}

func (s *Server) deleteBinding(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	is, err := s.identitySvc()
	if err != nil {
		return err
	}
	if err := is.DeleteBinding(r.Context(), tok, r.PathValue("name")); err != nil {
		return err
	}
	return noContent(ex)
}

// CreateIssuer trusts a new OIDC issuer.
func (c *Client) CreateIssuer(ctx context.Context, spec credbroker.TrustedIssuer) (*credbroker.TrustedIssuer, error) {
	var out credbroker.TrustedIssuer
	return &out, c.do(ctx, http.MethodPost, "/v1/issuers", nil, spec, &out)
}

// UpdateIssuer replaces the issuer name's settings.
func (c *Client) UpdateIssuer(ctx context.Context, name string, spec credbroker.TrustedIssuer) (*credbroker.TrustedIssuer, error) {
	var out credbroker.TrustedIssuer
	return &out, c.do(ctx, http.MethodPut, "/v1/issuers/"+url.PathEscape(name), nil, spec, &out)
}

// GetIssuer returns the issuer name.
func (c *Client) GetIssuer(ctx context.Context, name string) (*credbroker.TrustedIssuer, error) {
	var out credbroker.TrustedIssuer
	return &out, c.do(ctx, http.MethodGet, "/v1/issuers/"+url.PathEscape(name), nil, nil, &out)
}

// ListIssuers returns every trusted issuer.
func (c *Client) ListIssuers(ctx context.Context) ([]credbroker.TrustedIssuer, error) {
	var out issuerList
	return out.Issuers, c.do(ctx, http.MethodGet, "/v1/issuers", nil, nil, &out)
}

// DeleteIssuer stops trusting the issuer name.
func (c *Client) DeleteIssuer(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/issuers/"+url.PathEscape(name), nil, nil, nil)
}

// CreateBinding adds a binding.
func (c *Client) CreateBinding(ctx context.Context, spec credbroker.Binding) (*credbroker.Binding, error) {
	var out credbroker.Binding
	return &out, c.do(ctx, http.MethodPost, "/v1/bindings", nil, spec, &out)
}

// UpdateBinding replaces the binding name.
func (c *Client) UpdateBinding(ctx context.Context, name string, spec credbroker.Binding) (*credbroker.Binding, error) {
	var out credbroker.Binding
	return &out, c.do(ctx, http.MethodPut, "/v1/bindings/"+url.PathEscape(name), nil, spec, &out)
}

// GetBinding returns the binding name.
func (c *Client) GetBinding(ctx context.Context, name string) (*credbroker.Binding, error) {
	var out credbroker.Binding
	return &out, c.do(ctx, http.MethodGet, "/v1/bindings/"+url.PathEscape(name), nil, nil, &out)
}

// ListBindings returns every binding.
func (c *Client) ListBindings(ctx context.Context) ([]credbroker.Binding, error) {
	var out bindingList
	return out.Bindings, c.do(ctx, http.MethodGet, "/v1/bindings", nil, nil, &out)
}

// DeleteBinding removes the binding name.
func (c *Client) DeleteBinding(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/bindings/"+url.PathEscape(name), nil, nil, nil)
}
