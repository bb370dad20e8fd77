// Package hostchain loads the broker host's own AWS credentials: the SDK's
// default chain as config.LoadDefaultConfig builds it (environment, shared
// config and credentials files, SSO, container and instance credentials),
// for connectors whose base is the host's chain.
//
// It is apart from package awscreds so that only the broker links the
// SDK's config loader, and with it the SSO, SSO-OIDC and sign-in clients:
// the agent build of credbroker (build tag agentonly) links none of them,
// and starts faster for it.
package hostchain

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
)

// Load reads the host's AWS configuration and returns its credential
// chain through is (its clock and error translation). Unlike the rest of
// credbroker it reads the host's environment and files, through the SDK.
func Load(ctx context.Context, is *awscreds.Issuer) (credbroker.Provider, error) {
	// The SDK's own HTTP client is kept: it honours AWS_CA_BUNDLE, which a
	// plain *http.Client cannot take.
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "base",
			"the broker host's AWS configuration cannot be loaded").
			WithFix("check AWS_PROFILE, AWS_CONFIG_FILE and the shared config and credentials files").
			WithCause(err)
	}
	if cfg.Credentials == nil {
		return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "base", "the broker host has no AWS credential chain")
	}
	return is.HostChain(cfg.Credentials), nil
}
