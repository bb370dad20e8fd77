package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

// DefaultClientTimeout bounds one request of a Client.
const DefaultClientTimeout = 30 * time.Second

// maxResponseBytes bounds a response body the client reads (a full page of
// audit records is a few megabytes).
const maxResponseBytes = 64 << 20

// ClientOptions configure a Client.
type ClientOptions struct {
	// Token is the API token sent as "Authorization: Bearer".
	Token string
	// TokenSource, when set, gives the bearer of each request instead of
	// Token: a CI's ID token, fetched fresh for every vend.
	TokenSource func(ctx context.Context) (string, error)
	// CAFile is a PEM bundle to verify the broker's certificate with;
	// the system roots when empty. It cannot be combined with HTTPClient.
	CAFile string
	// HTTPClient, when set, makes the requests as it is configured.
	HTTPClient *http.Client
	// Timeout bounds each request (DefaultClientTimeout).
	Timeout time.Duration
	// UserAgent is sent with each request; "credbroker" when empty.
	UserAgent string
}

// Client is the Go client of the broker's HTTP API. It is safe for
// concurrent use. It never logs its token nor formats it into an error.
type Client struct {
	base    string // scheme://host[/prefix], no trailing slash
	token   string
	source  func(ctx context.Context) (string, error)
	hc      *http.Client
	timeout time.Duration
	ua      string
}

// NewClient returns a client of the broker at baseURL, an http or https
// URL with an optional path prefix.
func NewClient(baseURL string, opts ClientOptions) (*Client, error) {
	u, _, err := parseBrokerURL(baseURL)
	if err != nil {
		return nil, err
	}
	if opts.HTTPClient != nil && opts.CAFile != "" {
		return nil, errors.New("new client: set CAFile or HTTPClient, not both")
	}
	c := &Client{
		base:    u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		token:   opts.Token,
		source:  opts.TokenSource,
		hc:      opts.HTTPClient,
		timeout: opts.Timeout,
		ua:      opts.UserAgent,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultClientTimeout
	}
	if c.ua == "" {
		c.ua = "credbroker"
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if opts.CAFile != "" {
			pool, err := loadCAFile(opts.CAFile)
			if err != nil {
				return nil, err
			}
			tr.TLSClientConfig.RootCAs = pool
		}
		c.hc = &http.Client{Transport: tr}
	}
	return c, nil
}

// loadCAFile reads a PEM bundle into a certificate pool.
func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "ca-file", "cannot read %s", path).WithCause(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "ca-file", "%s holds no PEM certificate", path)
	}
	return pool, nil
}

// BaseURL returns the broker URL the client talks to.
func (c *Client) BaseURL() string { return c.base }

// Cleartext reports whether the client sends its token unencrypted over a
// network: plain http to a host that is not loopback. Callers may warn.
func (c *Client) Cleartext() bool {
	u, err := url.Parse(c.base)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return false
	}
	addr, err := netip.ParseAddr(host)
	return err != nil || !addr.IsLoopback()
}

// Vend asks the broker for credentials from a connector.
func (c *Client) Vend(ctx context.Context, req credbroker.VendRequest) (*credbroker.VendResult, error) {
	var res credbroker.VendResult
	if err := c.do(ctx, http.MethodPost, "/v1/credentials", nil, req, &res); err != nil {
		return nil, err
	}
	if res.AccessKeyID == "" || res.SecretAccessKey == "" {
		return nil, &credbroker.Error{
			Code: credbroker.CodeUpstream, Field: "broker",
			Message: fmt.Sprintf("the broker at %s answered the vend without complete credentials", c.base),
			Fix:     "check that --broker points at credbroker serve and not at another server",
		}
	}
	return &res, nil
}

// Provider returns a provider whose Retrieve vends credentials with req.
// It does not cache: wrap it in a credcache.Cache.
func (c *Client) Provider(req credbroker.VendRequest) credbroker.Provider {
	req.PolicyARNs = append([]string(nil), req.PolicyARNs...)
	req.Tags = append([]credbroker.Tag(nil), req.Tags...)
	return credbroker.ProviderFunc(func(ctx context.Context) (credbroker.Credentials, error) {
		res, err := c.Vend(ctx, req)
		if err != nil {
			return credbroker.Credentials{}, err
		}
		return res.Credentials(), nil
	})
}

// AgentVariables returns the global and the plan's variables, secret
// values included.
func (c *Client) AgentVariables(ctx context.Context, plan string) ([]credbroker.Variable, error) {
	var res variableList
	if err := c.do(ctx, http.MethodGet, "/v1/agent/variables", planValues(plan), nil, &res); err != nil {
		return nil, err
	}
	return res.Variables, nil
}

// Console returns an AWS Management Console sign-in URL.
func (c *Client) Console(ctx context.Context, req credbroker.ConsoleRequest) (*credbroker.ConsoleResult, error) {
	var res credbroker.ConsoleResult
	if err := c.do(ctx, http.MethodPost, "/v1/console", nil, req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// CreateConnector adds a connector.
func (c *Client) CreateConnector(ctx context.Context, spec credbroker.ConnectorSpec) (*credbroker.ConnectorInfo, error) {
	var res credbroker.ConnectorInfo
	if err := c.do(ctx, http.MethodPost, "/v1/connectors", nil, spec, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// UpdateConnector replaces the connector named by ID or name.
func (c *Client) UpdateConnector(ctx context.Context, idOrName string, spec credbroker.ConnectorSpec) (*credbroker.ConnectorInfo, error) {
	var res credbroker.ConnectorInfo
	if err := c.do(ctx, http.MethodPut, "/v1/connectors/"+pathSegment(idOrName), nil, spec, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// GetConnector returns a connector by ID or name.
func (c *Client) GetConnector(ctx context.Context, idOrName string) (*credbroker.ConnectorInfo, error) {
	var res credbroker.ConnectorInfo
	if err := c.do(ctx, http.MethodGet, "/v1/connectors/"+pathSegment(idOrName), nil, nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ListConnectors returns every connector.
func (c *Client) ListConnectors(ctx context.Context) ([]credbroker.ConnectorInfo, error) {
	var res connectorList
	if err := c.do(ctx, http.MethodGet, "/v1/connectors", nil, nil, &res); err != nil {
		return nil, err
	}
	return res.Connectors, nil
}

// DeleteConnector removes a connector by ID or name.
func (c *Client) DeleteConnector(ctx context.Context, idOrName string) error {
	return c.do(ctx, http.MethodDelete, "/v1/connectors/"+pathSegment(idOrName), nil, nil, nil)
}

// CreateToken creates an API token; the secret in the result is shown
// this once.
func (c *Client) CreateToken(ctx context.Context, spec credbroker.TokenSpec) (*credbroker.NewToken, error) {
	var res credbroker.NewToken
	if err := c.do(ctx, http.MethodPost, "/v1/tokens", nil, spec, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ListTokens returns every API token.
func (c *Client) ListTokens(ctx context.Context) ([]*credbroker.Token, error) {
	var res tokenList
	if err := c.do(ctx, http.MethodGet, "/v1/tokens", nil, nil, &res); err != nil {
		return nil, err
	}
	return res.Tokens, nil
}

// RevokeToken revokes the token with the given ID.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+pathSegment(id), nil, nil, nil)
}

// SetVariable inserts or replaces v (global when v.Plan is empty).
func (c *Client) SetVariable(ctx context.Context, v credbroker.Variable) error {
	body := variableBody{Value: v.Value, Secret: v.Secret}
	return c.do(ctx, http.MethodPut, "/v1/variables/"+pathSegment(v.Name), planValues(v.Plan), body, nil)
}

// DeleteVariable removes a variable; plan "" is the global scope.
func (c *Client) DeleteVariable(ctx context.Context, plan, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/variables/"+pathSegment(name), planValues(plan), nil, nil)
}

// ListVariables returns the plan's (or, for "", the global) variables,
// secret values blank.
func (c *Client) ListVariables(ctx context.Context, plan string) ([]credbroker.Variable, error) {
	var res variableList
	if err := c.do(ctx, http.MethodGet, "/v1/variables", planValues(plan), nil, &res); err != nil {
		return nil, err
	}
	return res.Variables, nil
}

// ListAudit returns the audit records matching f in sequence order. The
// broker answers at most MaxAuditLimit records a request, so ListAudit
// pages through them: f.Limit zero means every matching record.
func (c *Client) ListAudit(ctx context.Context, f credbroker.AuditFilter) ([]credbroker.AuditRecord, error) {
	if f.Limit < 0 {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "limit", "must not be negative")
	}
	var all []credbroker.AuditRecord
	for {
		page := MaxAuditLimit
		if f.Limit > 0 {
			page = min(page, f.Limit-len(all))
		}
		var res auditList
		if err := c.do(ctx, http.MethodGet, "/v1/audit", auditValues(f, page), nil, &res); err != nil {
			return nil, err
		}
		all = append(all, res.Records...)
		if len(res.Records) < page || (f.Limit > 0 && len(all) >= f.Limit) {
			return all, nil
		}
		next := res.Records[len(res.Records)-1].Seq
		if next <= f.AfterSeq {
			return nil, &credbroker.Error{Code: credbroker.CodeUpstream, Field: "broker",
				Message: fmt.Sprintf("the broker at %s returned audit records out of order while paging", c.base),
				Fix:     "check that --broker points at credbroker serve"}
		}
		f.AfterSeq = next
	}
}

// VerifyAudit checks the broker's audit chain.
func (c *Client) VerifyAudit(ctx context.Context) (*credbroker.AuditReport, error) {
	var res credbroker.AuditReport
	if err := c.do(ctx, http.MethodGet, "/v1/audit/verify", nil, nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Ready returns nil when the broker answers that it is ready.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil, nil)
}

func pathSegment(s string) string { return url.PathEscape(s) }

func planValues(plan string) url.Values {
	if plan == "" {
		return nil
	}
	return url.Values{"plan": {plan}}
}

func auditValues(f credbroker.AuditFilter, limit int) url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		set("until", f.Until.Format(time.RFC3339Nano))
	}
	set("plan", f.Plan)
	set("connector", f.Connector)
	set("outcome", f.Outcome)
	set("action", f.Action)
	if f.AfterSeq > 0 {
		set("after", strconv.FormatInt(f.AfterSeq, 10))
	}
	set("limit", strconv.Itoa(limit))
	return q
}

// do sends one request: in as a JSON body when not nil, out decoded from
// a 2xx JSON answer when not nil. Any other answer becomes the broker's
// *credbroker.Error; a failure to reach the broker becomes CodeUnavailable.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("build %s %s request: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	token := c.token
	if c.source != nil {
		if token, err = c.source(ctx); err != nil {
			return err
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		_ = resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.statusError(method, path, resp)
	}
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBytes))
	if err := dec.Decode(out); err != nil {
		return &credbroker.Error{
			Code: credbroker.CodeUpstream, Field: "broker",
			Message: fmt.Sprintf("the broker at %s sent a response that is not the expected JSON", c.base),
			Fix:     "check that --broker points at credbroker serve and not at another server",
			Err:     fmt.Errorf("decode %s %s response: %w", method, path, err),
		}
	}
	return nil
}

// printable keeps a server's message fit for a terminal or CI log: control
// characters (a forged line, an escape sequence) become spaces, and the
// text is cut at max bytes.
func printable(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// statusError turns an error response into the broker's error: its code
// and message when the body is credbroker's {"code","message"}, a code
// from the status otherwise (say, a proxy's HTML page, whose text is not
// shown). The request ID, when given, is kept in the cause.
func (c *Client) statusError(method, path string, resp *http.Response) error {
	cause := fmt.Errorf("%s %s: %s", method, path, resp.Status)
	if id := resp.Header.Get("X-Request-Id"); id != "" {
		cause = fmt.Errorf("%s %s: %s (request id %s)", method, path, resp.Status, id)
	}
	var eb errorBody
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(data, &eb) == nil && eb.Message != "" {
		code := eb.Code
		if !knownCode(code) {
			code = codeForStatus(resp.StatusCode)
		}
		// The server's message already names its field; it is reported as
		// the broker's words, with no field of this side's.
		return &credbroker.Error{Code: code, Message: "broker: " + printable(eb.Message, 2000), Err: cause}
	}
	return &credbroker.Error{
		Code: codeForStatus(resp.StatusCode), Field: "broker",
		Message: fmt.Sprintf("the broker at %s answered %s", c.base, resp.Status),
		Err:     cause,
	}
}

// transportError explains a request that got no answer.
func (c *Client) transportError(ctx context.Context, err error) error {
	var (
		unknownCA *x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		reason := "the certificate is not trusted"
		switch {
		case errors.As(err, &hostname):
			reason = hostname.Error()
		case errors.As(err, &invalid):
			reason = invalid.Error()
		case errors.As(err, &unknownCA):
			reason = unknownCA.Error()
		}
		return &credbroker.Error{
			Code: credbroker.CodeUnavailable, Field: "broker",
			Message: fmt.Sprintf("TLS verification of the broker at %s failed: %s", c.base, reason),
			Fix:     "pass the CA bundle that signed the broker's certificate with --ca-file",
			Err:     err,
		}
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &credbroker.Error{
			Code: credbroker.CodeUnavailable, Field: "broker",
			Message: fmt.Sprintf("the broker at %s did not answer in time", c.base),
			Fix:     "check that the broker is running and not overloaded",
			Err:     err,
		}
	case ctx.Err() != nil:
		return &credbroker.Error{
			Code: credbroker.CodeUnavailable, Field: "broker",
			Message: fmt.Sprintf("the request to the broker at %s was cancelled", c.base),
			Err:     err,
		}
	}
	reason := err.Error()
	var uerr *url.Error
	if errors.As(err, &uerr) {
		reason = uerr.Err.Error()
	}
	return &credbroker.Error{
		Code: credbroker.CodeUnavailable, Field: "broker",
		Message: fmt.Sprintf("cannot reach the broker at %s: %s", c.base, reason),
		Fix:     "is `credbroker serve` running there, and is --broker right?",
		Err:     err,
	}
}
