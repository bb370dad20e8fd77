package broker

import (
	"context"
	"time"

	"github.com/credbroker/credbroker"
)

// Console vends credentials as Vend does (same checks, same audit) and
// turns them into an AWS Management Console sign-in URL for the
// connector's partition.
func (s *Service) Console(ctx context.Context, tok *credbroker.Token, req credbroker.ConsoleRequest) (*credbroker.ConsoleResult, error) {
	if s.opts.Signin == nil {
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "console", "console sign-in is not configured on this broker")
	}
	vr := credbroker.VendRequest{Connector: req.Connector, Plan: req.Plan, Build: req.Build, Task: "console"}
	res, err := s.Vend(ctx, tok, vr)
	if err != nil {
		return nil, err
	}
	if res.SessionToken == "" {
		return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "connector",
			"connector %s yields long-term keys, which cannot sign in to the console", res.Connector).
			WithFix("use an assumed-role or federated-user connector")
	}
	url, err := s.opts.Signin(ctx, res.Credentials(), res.Region, req.Destination, time.Duration(req.DurationSeconds)*time.Second)
	if err != nil {
		return nil, err
	}
	return &credbroker.ConsoleResult{URL: url, Expiration: res.Expiration}, nil
}
