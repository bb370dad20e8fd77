package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/credbroker/credbroker"
)

// Console session limits: the federation endpoint's SessionDuration
// (for assumed-role credentials) takes 15 minutes to 12 hours, and one
// hour for a role session made with another role session (role
// chaining); a federated user's console session lasts as long as its
// credentials, which GetFederationToken issues for at most 36 hours.
const (
	maxConsoleRole    = 12 * time.Hour
	maxConsoleChained = time.Hour
	maxConsoleFed     = 36 * time.Hour
)

// Console vends credentials as Vend does (same checks, same audit) and
// turns them into an AWS Management Console sign-in URL for the
// connector's partition. The console session is as long as asked (the
// connector's default duration when not asked), at most the connector's
// maximum and what STS allows for the credentials it is made of; the
// audit records it as a console record of its own, with its real end.
func (s *Service) Console(ctx context.Context, tok *credbroker.Token, req credbroker.ConsoleRequest) (*credbroker.ConsoleResult, error) {
	if s.opts.Signin == nil {
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "console", "console sign-in is not configured on this broker")
	}
	ctx, cancel := detach(ctx, s.opts.VendTimeout)
	defer cancel()
	if id := identityOf(tok); req.Plan == "" && id != nil {
		req.Plan = id.Plan
	}
	rec := s.requestRecord(credbroker.ActionConsole, tok, req.Plan, req.Build, "", "console")
	res, vended, err := s.console(ctx, tok, req, rec)
	if err != nil {
		if !vended { // a refused vend has its own record
			s.auditRefusal(ctx, rec, err)
		}
		return nil, err
	}
	rec.Outcome = credbroker.OutcomeGranted
	if err := s.appendAudit(ctx, rec); err != nil {
		s.log.Error("audit record of a console sign-in could not be written; sign-in refused", "connector", rec.Connector, "err", err)
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "audit", "the audit record could not be written, so no sign-in URL was handed out").
			WithFix("an administrator should check the store (disk space, permissions); retry later")
	}
	return res, nil
}

// console makes the sign-in URL of Console and fills rec. vended reports
// that the error, if any, came from the vend, which recorded it.
func (s *Service) console(ctx context.Context, tok *credbroker.Token, req credbroker.ConsoleRequest, rec *credbroker.AuditRecord) (res *credbroker.ConsoleResult, vended bool, err error) {
	if err := checkSeconds("duration_seconds", req.DurationSeconds); err != nil {
		return nil, false, err
	}
	if err := credbroker.CheckField("destination", req.Destination, 2048); err != nil {
		return nil, false, err
	}
	vr := credbroker.VendRequest{Connector: req.Connector, Plan: req.Plan, Build: req.Build, Task: "console"}
	if err := checkVendRequest(&vr); err != nil {
		return nil, false, err
	}
	if err := requireAgentFor(tok, req.Plan); err != nil {
		return nil, false, err
	}
	c, err := s.connector(ctx, req.Connector)
	if credbroker.ErrorCode(err) == credbroker.CodeNotFound {
		return nil, false, connectorUnavailable(req.Plan, nil)
	}
	if err != nil {
		return nil, false, err
	}
	if err := checkScope(c, req.Plan); err != nil {
		// Vend would refuse it too; refused here, it is not audited twice.
		rec.Connector = c.Name
		return nil, false, connectorUnavailable(req.Plan, err)
	}
	asked := c.DefaultDuration
	if req.DurationSeconds > 0 {
		asked = seconds(req.DurationSeconds)
	}
	limit, why := c.MaxDuration, fmt.Sprintf("connector %s's maximum of %s", c.Name, c.MaxDuration)
	role := c.Principal == credbroker.PrincipalAssumedRole
	capTo := func(d time.Duration, reason string) {
		if d < limit {
			limit, why = d, reason
		}
	}
	if role {
		capTo(maxConsoleRole, "the federation endpoint's maximum of 12h0m0s for a role session")
		if s.baseIsRoleSession(ctx, c) {
			capTo(maxConsoleChained, "1h0m0s, what AWS allows a console session of a chained role session")
		}
	} else {
		// The console session lasts as long as the credentials: vend
		// them for that long.
		capTo(maxConsoleFed, "36h0m0s, the longest GetFederationToken session")
	}
	length := min(asked, limit)
	if !role {
		vr.DurationSeconds = int(length / time.Second)
	}
	vres, err := s.Vend(ctx, tok, vr)
	if err != nil {
		return nil, true, err
	}
	rec.Connector, rec.RoleARN, rec.AccessKeyID = vres.Connector, vres.RoleARN, vres.AccessKeyID
	if vres.SessionToken == "" {
		return nil, false, credbroker.Errorf(credbroker.CodeUnprocessable, "connector",
			"connector %s yields long-term keys, which cannot sign in to the console", vres.Connector).
			WithFix("use an assumed-role or federated-user connector")
	}
	sessionDuration := time.Duration(0)
	end := vres.Expiration
	if role {
		sessionDuration = length
		end = s.now().Add(length)
	}
	url, err := s.opts.Signin(ctx, vres.Credentials(), vres.Region, req.Destination, sessionDuration)
	if err != nil {
		return nil, false, err
	}
	got := end.Sub(s.now()).Round(time.Second)
	rec.Expiration = end
	rec.Detail = credbroker.CleanField(fmt.Sprintf("console session of %s", got), maxDetail)
	if asked > limit {
		rec.Detail = credbroker.CleanField(fmt.Sprintf("console session of %s (asked for %s, capped at %s)", got, asked, why), maxDetail)
	}
	return &credbroker.ConsoleResult{URL: url, Expiration: end}, false, nil
}

// baseIsRoleSession reports whether an assumed-role connector's base
// credentials are themselves a role session, so that its sessions are
// chained: a connector on an assumed-role connector, or the broker host's
// own credentials when they carry a session token (an instance profile).
func (s *Service) baseIsRoleSession(ctx context.Context, c *credbroker.Connector) bool {
	switch c.Base {
	case credbroker.BaseConnector:
		bc, err := s.connector(ctx, c.BaseConnector)
		return err != nil || bc.Principal == credbroker.PrincipalAssumedRole
	case credbroker.BaseDefault:
		p, err := s.hostChain(ctx)
		if err != nil {
			return true
		}
		cr, err := p.Retrieve(ctx)
		return err != nil || cr.SessionToken != ""
	}
	return false
}
