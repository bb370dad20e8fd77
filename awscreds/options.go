package awscreds

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/credbroker/credbroker"
)

// Retry defaults, used where a credbroker.RetrySpec leaves a field zero.
// The backoff is the SDK standard retryer's full jitter: a retry waits a
// random time up to 50 ms × 2^n for a transient error and up to 1 s × 2^n
// for throttling, each wait capped at MaxBackoff. Eight attempts (seven
// retries) give throttled calls up to about 70 s in the worst case and
// about half that on average, close to the seed products' seven retries in
// about a minute; a failing connection costs well under ten seconds.
const (
	DefaultMaxAttempts = 8
	DefaultMaxBackoff  = 20 * time.Second
	// DefaultIMDSMaxAttempts is the SDK's own default for the instance
	// metadata service, which the SDK also bounds to 5 s per call and 1 s
	// per backoff: on a host without IMDS, failing fast matters more.
	DefaultIMDSMaxAttempts = 3
)

// The environment variables this package reads, through Options.LookupEnv
// only.
const (
	EnvSTSEndpoint    = "AWS_ENDPOINT_URL_STS"
	EnvEndpoint       = "AWS_ENDPOINT_URL"
	EnvIgnoreEndpoint = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
	EnvIMDSEndpoint   = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
	EnvRegion         = "AWS_REGION"
	EnvDefaultRegion  = "AWS_DEFAULT_REGION"
)

// DefaultIMDSEndpoint is the instance metadata service of EC2 (IPv4).
const DefaultIMDSEndpoint = "http://169.254.169.254"

// Options configures the AWS calls of this package. The zero value works:
// no environment is read, the package's shared HTTP client is used and
// retries take the defaults.
type Options struct {
	// HTTPClient carries the STS and federation calls. Share one client
	// across calls so that connections are reused; nil uses one client
	// shared by the whole package. The instance metadata service always
	// uses the SDK's own client, which fails fast when there is no IMDS.
	HTTPClient *http.Client
	// LookupEnv reads an environment variable (os.LookupEnv in
	// production). nil reads nothing. It is consulted for
	// AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL,
	// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, AWS_EC2_METADATA_SERVICE_ENDPOINT,
	// AWS_REGION, AWS_DEFAULT_REGION, and for web identity
	// AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN and AWS_ROLE_SESSION_NAME.
	LookupEnv func(key string) (string, bool)
	// Retry bounds retries where a Source or IssueRequest sets none.
	Retry credbroker.RetrySpec
	// AttemptTimeout bounds one attempt of an STS call (connecting,
	// sending, and reading the whole answer), as the Timeout of a copy of
	// the HTTP client. An attempt that times out counts as a failed
	// connection: it is retried, or the next fallback endpoint is tried at
	// once. Zero leaves the HTTP client's own timeouts.
	AttemptTimeout time.Duration
	// Deadline bounds a whole Issue: every attempt, backoff wait and
	// fallback endpoint, and the waits of IssueRequest.BeforeAttempt. A
	// call it ends fails with CodeThrottled when STS was throttling it,
	// else with CodeUpstream. Zero sets no bound beyond the caller's
	// context.
	Deadline time.Duration
	// Now is the clock, used to refuse credentials that are already
	// expired when they arrive; nil is time.Now.
	Now func() time.Time
	// Logger receives debug and warning lines (an unreachable endpoint
	// skipped for the next one); nil discards them. Nothing secret is
	// ever logged.
	Logger *slog.Logger
	// NoSourceIdentity stops Resolve from sending the build as the
	// AssumeRole source identity, for roles whose trust policy does not
	// allow sts:SetSourceIdentity.
	NoSourceIdentity bool
	// IdentityToken gives the ID token of a web-identity source at each
	// call (package citoken's sources); nil reads the token file the plan
	// names. Its errors must not hold a token.
	IdentityToken func(ctx context.Context) (string, error)
	// IdentityTokenRead, when set, is told every ID token a web-identity
	// source obtained (from IdentityToken or its token file), so that
	// the caller can mask it.
	IdentityTokenRead func(token string)

	// newSTS replaces the STS client in tests.
	newSTS func(cfg stsConfig) stsAPI
}

// stsAPI is what this package calls on STS.
type stsAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
	AssumeRoleWithWebIdentity(ctx context.Context, in *sts.AssumeRoleWithWebIdentityInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error)
	GetFederationToken(ctx context.Context, in *sts.GetFederationTokenInput, optFns ...func(*sts.Options)) (*sts.GetFederationTokenOutput, error)
	GetSessionToken(ctx context.Context, in *sts.GetSessionTokenInput, optFns ...func(*sts.Options)) (*sts.GetSessionTokenOutput, error)
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// stsConfig is everything one STS client needs.
type stsConfig struct {
	Region   string
	Endpoint string // base URL
	Creds    aws.CredentialsProvider
	Retry    credbroker.RetrySpec
	// FailFast makes connection failures final at once, so that the
	// caller can move on to a fallback endpoint.
	FailFast bool
	// BeforeAttempt is called before each attempt (IssueRequest's).
	BeforeAttempt func(ctx context.Context) error
	// Attempts, when set, records the attempts of the call.
	Attempts *attemptLog
}

// stsClient builds the STS client for cfg: its region, its endpoint as
// BaseEndpoint, the shared HTTP client and the standard retryer bounded by
// cfg.Retry.
func (o *Options) stsClient(cfg stsConfig) stsAPI {
	if o.newSTS != nil {
		return o.newSTS(cfg)
	}
	return sts.New(sts.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		Credentials:  cfg.Creds,
		HTTPClient:   o.attemptClient(),
		Retryer:      observed(newRetryer(o.retrySpec(cfg.Retry), cfg.FailFast), cfg.BeforeAttempt, cfg.Attempts),
	})
}

// retrySpec fills the zero fields of spec from o.Retry, then from the
// package defaults.
func (o *Options) retrySpec(spec credbroker.RetrySpec) credbroker.RetrySpec {
	return o.retrySpecWith(spec, DefaultMaxAttempts)
}

// retrySpecWith is retrySpec with another default number of attempts.
func (o *Options) retrySpecWith(spec credbroker.RetrySpec, attempts int) credbroker.RetrySpec {
	if spec.MaxAttempts <= 0 {
		spec.MaxAttempts = o.Retry.MaxAttempts
	}
	if spec.MaxAttempts <= 0 {
		spec.MaxAttempts = attempts
	}
	if spec.MaxBackoff <= 0 {
		spec.MaxBackoff = o.Retry.MaxBackoff
	}
	if spec.MaxBackoff <= 0 {
		spec.MaxBackoff = DefaultMaxBackoff
	}
	return spec
}

// newRetryer returns the SDK's standard retryer (full-jitter exponential
// backoff, retry on throttling, 5xx and connection errors) bounded by spec.
func newRetryer(spec credbroker.RetrySpec, failFast bool) aws.Retryer {
	return retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = spec.MaxAttempts
		so.MaxBackoff = spec.MaxBackoff
		if failFast {
			so.Retryables = append([]retry.IsErrorRetryable{
				retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
					if isSendError(err) {
						return aws.FalseTernary
					}
					return aws.UnknownTernary
				}),
			}, so.Retryables...)
		}
	})
}

// isSendError reports whether err means the request could not be sent or
// no response came back: the endpoint could not be reached.
func isSendError(err error) bool {
	var se *smithyhttp.RequestSendError
	return errors.As(err, &se)
}

func (o *Options) httpClient() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return sharedHTTPClient()
}

// sharedHTTPClient is the client used when Options.HTTPClient is nil: one
// per process, so that connections to STS are reused.
var sharedHTTPClient = sync.OnceValue(func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	t.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: t}
})

func (o *Options) env(key string) string {
	if o.LookupEnv == nil {
		return ""
	}
	v, _ := o.LookupEnv(key)
	return strings.TrimSpace(v)
}

// envSTSEndpoint returns the STS endpoint the environment configures, the
// way the SDK reads it: AWS_ENDPOINT_URL_STS, then AWS_ENDPOINT_URL, unless
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true. field names the variable.
func (o *Options) envSTSEndpoint() (endpoint, field string) {
	if strings.EqualFold(o.env(EnvIgnoreEndpoint), "true") {
		return "", ""
	}
	if v := o.env(EnvSTSEndpoint); v != "" {
		return v, EnvSTSEndpoint
	}
	if v := o.env(EnvEndpoint); v != "" {
		return v, EnvEndpoint
	}
	return "", ""
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return discard
}

var discard = slog.New(slog.DiscardHandler)
