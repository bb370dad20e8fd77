//go:build !agentonly

package cli

import (
	"context"

	"github.com/credbroker/credbroker"
)

// noIssuer stands in for STS where a command opens the broker's service
// only to manage tokens.
type noIssuer struct{}

func (noIssuer) Check(credbroker.IssueRequest) ([]string, error) { return nil, nil }

func (noIssuer) Issue(context.Context, credbroker.IssueRequest) (credbroker.Credentials, error) {
	return credbroker.Credentials{}, credbroker.Errorf(credbroker.CodeUnavailable, "sts", "not available in this command")
}
