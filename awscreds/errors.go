package awscreds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"
	"github.com/credbroker/credbroker"
)

// origin says where an SDK error came from, for translate.
type origin struct {
	// field is the input blamed by default: "instance", "static",
	// "role_arn", "base", "sts".
	field string
	// credField is the input blamed when STS refuses the credentials the
	// call was signed with (unknown key, wrong secret, expired token);
	// empty means field.
	credField string
	// imds says the call went to the instance metadata service.
	imds bool
	// endpoint is the URL called.
	endpoint string
	// op is the STS operation ("AssumeRole").
	op string
	// region and partition of the call, for messages.
	region, partition string
	// chain says the error came from the broker host's default chain.
	chain bool
	// timeout is the bound of one attempt (Options.AttemptTimeout), and
	// attempts the number of attempts made, for messages.
	timeout  time.Duration
	attempts int
	// callerEnded says the caller's context had ended: a timeout then is
	// the caller's, not the upstream's.
	callerEnded bool
	// tagSwitch, set when the request carried session tags, names the
	// switch that turns them off; a refusal then names it in its fix.
	tagSwitch string
}

func (o origin) service() string {
	if o.imds {
		return "the instance metadata service"
	}
	return "STS"
}

func (o origin) blameCreds() string {
	if o.credField != "" {
		return o.credField
	}
	return o.field
}

// translate turns an error of the SDK into a *credbroker.Error: a code, the
// input to blame, a short message of this package's own words that never
// holds a secret (nor the text STS or IMDS sent, which may describe the
// broker's own identity), and a fix. The original error is kept in Err for
// the logs. An error that already is (or wraps) a *credbroker.Error, such
// as the failure of the base credentials of an AssumeRole, is returned as
// that error.
func translate(err error, o origin) error {
	if err == nil {
		return nil
	}
	if e := credbroker.AsError(err); e != nil {
		return e
	}
	var e *credbroker.Error
	switch {
	case o.chain:
		e = credbroker.Errorf(credbroker.CodeUnprocessable, o.field,
			"the broker host's default AWS credential chain gave no credentials").
			WithFix("give the broker host credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or an instance profile")
	case o.imds:
		e = translateIMDS(err, o)
	default:
		e = translateSTS(err, o)
	}
	return e.WithCause(err)
}

// The STS error codes translate knows. STS's query protocol sends the
// short forms; the SDK's modeled errors carry the long ones.
const (
	codeAccessDenied      = "AccessDenied"
	codeExpiredToken      = "ExpiredToken"
	codeExpiredTokenExc   = "ExpiredTokenException"
	codeThrottling        = "Throttling"
	codeThrottlingExc     = "ThrottlingException"
	codeRequestLimit      = "RequestLimitExceeded"
	codeMalformedPolicy   = "MalformedPolicyDocument"
	codeMalformedPolicyEx = "MalformedPolicyDocumentException"
	codePackedPolicy      = "PackedPolicyTooLarge"
	codePackedPolicyExc   = "PackedPolicyTooLargeException"
	codeRegionDisabled    = "RegionDisabledException"
	codeInvalidClientID   = "InvalidClientTokenId"
	codeSignature         = "SignatureDoesNotMatch"
	codeInvalidParameter  = "InvalidParameterValue"
	codeValidation        = "ValidationError"
	// AssumeRoleWithWebIdentity's refusals of the ID token.
	codeInvalidIDToken   = "InvalidIdentityToken"
	codeInvalidIDTokenEx = "InvalidIdentityTokenException"
	codeIDPRejected      = "IDPRejectedClaim"
	codeIDPRejectedEx    = "IDPRejectedClaimException"
	codeIDPComm          = "IDPCommunicationError"
	codeIDPCommEx        = "IDPCommunicationErrorException"
)

// webIdentityOp is the STS call of a web-identity source.
const webIdentityOp = "AssumeRoleWithWebIdentity"

func translateSTS(err error, o origin) *credbroker.Error {
	op := o.op
	if op == "" {
		op = "call"
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		if o.op == webIdentityOp {
			if e := translateWebIdentity(code, o); e != nil {
				return e
			}
		}
		switch code {
		case codeAccessDenied:
			if o.tagSwitch != "" && (o.op == "AssumeRole" || strings.Contains(api.ErrorMessage(), "TagSession")) {
				return credbroker.Errorf(credbroker.CodeForbidden, o.field,
					"STS refused %s: %s; the request carried session tags, which the role's trust policy must allow with sts:TagSession", op, code).
					WithFix("allow sts:TagSession in the role's trust policy, or turn session tags off with " + o.tagSwitch +
						"; otherwise " + accessDeniedFix(o.op))
			}
			return credbroker.Errorf(credbroker.CodeForbidden, o.field, "STS refused %s: %s", op, code).
				WithFix(accessDeniedFix(o.op))
		case codeExpiredToken, codeExpiredTokenExc:
			return credbroker.Errorf(credbroker.CodeUnprocessable, o.blameCreds(),
				"STS refused %s: %s: the session token of the credentials that sign it has expired", op, code).
				WithFix("get a fresh session token (rerun the step that produced it), or use credentials that do not expire")
		case codeInvalidClientID:
			return credbroker.Errorf(credbroker.CodeUnprocessable, o.blameCreds(),
				"STS refused %s: %s: STS does not know the access key ID that signs it", op, code).
				WithFix(fmt.Sprintf("check the access key ID: it may be deleted or inactive, or belong to another partition than %q", o.partition))
		case codeSignature:
			return credbroker.Errorf(credbroker.CodeUnprocessable, o.blameCreds(),
				"STS refused %s: %s: the signature does not match; the secret access key is wrong for its key ID", op, code).
				WithFix("check the secret access key (and that this host's clock is right)")
		case codeThrottling, codeThrottlingExc, codeRequestLimit:
			return credbroker.Errorf(credbroker.CodeThrottled, "sts", "STS throttled %s: %s", op, code).
				WithFix("retry later; STS allows about 600 requests per second per account and region, and retries can be raised with max_attempts")
		case codeMalformedPolicy, codeMalformedPolicyEx:
			return credbroker.Errorf(credbroker.CodeUnprocessable, "policy", "STS refused %s: %s: STS does not accept the session policy", op, code).
				WithFix("check the session policy's actions and resources; STS's own message is kept in the log")
		case codePackedPolicy, codePackedPolicyExc:
			return credbroker.Errorf(credbroker.CodeUnprocessable, "policy",
				"STS refused %s: %s: the session policies and tags are too large once STS packs them", op, code).
				WithFix("use a shorter inline policy, fewer managed policy ARNs or fewer session tags")
		case codeRegionDisabled:
			return credbroker.Errorf(credbroker.CodeUnprocessable, "region",
				"STS refused %s: %s: STS is not activated in region %s for this account", op, code, o.region).
				WithFix("activate the region in the IAM account settings, or use another region")
		case codeInvalidParameter, codeValidation:
			field, what := o.field, "STS refused a parameter"
			msg := api.ErrorMessage()
			switch {
			case strings.Contains(msg, "MaxSessionDuration"):
				field, what = "duration", "the duration is longer than the role's maximum session duration"
			case strings.Contains(msg, "DurationSeconds"):
				field, what = "duration", "STS refused the duration"
			case strings.Contains(strings.ToLower(msg), "sessionname"):
				field, what = "session_name", "STS refused the role session name"
			case strings.Contains(strings.ToLower(msg), "sourceidentity"):
				field, what = "source_identity", "STS refused the source identity"
			case strings.Contains(strings.ToLower(msg), "tag"):
				field, what = "tags", "STS refused the session tags"
			}
			fix := "check the value against STS's limits; STS's own message is kept in the log"
			if field == "tags" && o.tagSwitch != "" {
				fix += "; or turn session tags off with " + o.tagSwitch
			}
			return credbroker.Errorf(credbroker.CodeUnprocessable, field, "STS refused %s: %s: %s", op, code, what).
				WithFix(fix)
		case "":
		default:
			return credbroker.Errorf(credbroker.CodeUpstream, o.field, "STS %s failed: %s", op, safeCode(code)).
				WithFix("retry; if it persists, STS's own message is kept in the log")
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return credbroker.Errorf(credbroker.CodeUpstream, "sts", "the STS %s at %s was canceled", op, o.endpoint)
	case o.timeout > 0 && isTimeout(err):
		return credbroker.Errorf(credbroker.CodeUpstream, "sts", "STS at %s did not answer %s within %s%s", o.endpoint, op, o.timeout, triedTimes(o.attempts)).
			WithFix("check the network path and proxy to STS and the STS endpoint if one is set; a connector can list fallback STS endpoints")
	case errors.Is(err, context.DeadlineExceeded), isSendError(err), isNetError(err):
		return credbroker.Errorf(credbroker.CodeUpstream, "sts", "STS at %s is not reachable%s%s", o.endpoint, sendFailure(err), triedTimes(o.attempts)).
			WithFix("check the network path and proxy to STS, the region, and the STS endpoint if one is set")
	}
	if status := httpStatus(err); status >= 200 && status < 300 {
		return credbroker.Errorf(credbroker.CodeUpstream, "sts", "STS at %s gave an answer to %s that could not be read", o.endpoint, op).
			WithFix("check that the endpoint is an STS endpoint")
	} else if status != 0 {
		return credbroker.Errorf(credbroker.CodeUpstream, "sts", "STS at %s answered %s with HTTP %d", o.endpoint, op, status).
			WithFix("retry later; check the STS endpoint if one is set")
	}
	return credbroker.Errorf(credbroker.CodeUpstream, o.field, "STS %s failed", op).
		WithFix("the underlying error is kept in the log")
}

func accessDeniedFix(op string) string {
	switch op {
	case "AssumeRole":
		return "check that the role's trust policy lets the base identity call sts:AssumeRole " +
			"(and sts:TagSession or sts:SetSourceIdentity when tags or a source identity are sent), " +
			"that the external ID matches, and that the base identity may call sts:AssumeRole on the role"
	case "GetFederationToken":
		return "the base credentials must be an IAM user's long-term keys, allowed to call sts:GetFederationToken"
	case "GetSessionToken":
		return "the base credentials must be an IAM user's long-term keys (not a role session)"
	}
	return "check the permissions of the base identity"
}

// translateWebIdentity explains STS's refusals of an ID token; nil for
// the codes every call shares.
func translateWebIdentity(code string, o origin) *credbroker.Error {
	switch code {
	case codeExpiredToken, codeExpiredTokenExc:
		return credbroker.Errorf(credbroker.CodeUnauthorized, o.blameCreds(), "STS refused %s: %s: the ID token has expired", webIdentityOp, code).
			WithFix("the token is fetched again at the next refresh; check this host's clock, and that the token file is rotated")
	case codeInvalidIDToken, codeInvalidIDTokenEx:
		return credbroker.Errorf(credbroker.CodeUnauthorized, o.blameCreds(), "STS refused %s: %s: STS does not accept the ID token", webIdentityOp, code).
			WithFix("check that the account has an IAM OIDC provider for the token's issuer, with the token's audience")
	case codeIDPRejected, codeIDPRejectedEx:
		return credbroker.Errorf(credbroker.CodeForbidden, o.field, "STS refused %s: %s: the role's trust policy rejects the token's claims", webIdentityOp, code).
			WithFix("check the role's trust policy conditions on the token's sub and aud")
	case codeIDPComm, codeIDPCommEx:
		return credbroker.Errorf(credbroker.CodeUpstream, o.blameCreds(), "STS %s failed: %s: STS could not reach the token's issuer", webIdentityOp, code).
			WithFix("retry; the issuer's keys must be reachable from AWS")
	case codeAccessDenied:
		return credbroker.Errorf(credbroker.CodeForbidden, o.field, "STS refused %s: %s", webIdentityOp, code).
			WithFix("check that the role's trust policy lets the token's issuer (sts:AssumeRoleWithWebIdentity) assume it, for the token's sub and aud")
	}
	return nil
}

// translateIMDS explains a failure to get instance profile credentials.
func translateIMDS(err error, o origin) *credbroker.Error {
	const field = "instance"
	notReachable := func() *credbroker.Error {
		return credbroker.Errorf(credbroker.CodeUpstream, field,
			"the instance metadata service at %s is not reachable", o.endpoint).
			WithFix("run on an EC2 instance (or container) with an instance profile, " +
				"or point imds_endpoint / AWS_EC2_METADATA_SERVICE_ENDPOINT at the metadata service; " +
				"in a container, the IMDSv2 hop limit may need to be 2")
	}
	text := err.Error()
	// The SDK hides the cause of a failed token request behind an error
	// that does not unwrap, so the token case is recognised by its text.
	if strings.Contains(text, "failed to get API token") {
		if status := statusInText(text); status != 0 {
			return credbroker.Errorf(credbroker.CodeUpstream, field,
				"the instance metadata service at %s refused the IMDSv2 session token request (HTTP %d)", o.endpoint, status).
				WithFix("IMDSv2 is required; if this metadata service only speaks IMDSv1, allow the IMDSv1 fallback for this task (less safe)")
		}
		if !o.callerEnded && timeoutText(text) {
			return credbroker.Errorf(credbroker.CodeUpstream, field,
				"the instance metadata service at %s did not answer the IMDSv2 session token request in time", o.endpoint).
				WithFix(imdsSlowFix)
		}
		if unreachableText(text) {
			return notReachable()
		}
		return credbroker.Errorf(credbroker.CodeUpstream, field,
			"the instance metadata service at %s gave no usable IMDSv2 session token", o.endpoint).
			WithFix("check that the endpoint is an EC2 instance metadata service")
	}
	if errors.Is(err, context.Canceled) {
		return credbroker.Errorf(credbroker.CodeUpstream, field, "the request to the instance metadata service at %s was canceled", o.endpoint)
	}
	if !o.callerEnded && (isTimeout(err) || timeoutText(text)) {
		return credbroker.Errorf(credbroker.CodeUpstream, field,
			"the instance metadata service at %s did not answer in time", o.endpoint).
			WithFix(imdsSlowFix)
	}
	if errors.Is(err, context.DeadlineExceeded) || isSendError(err) || isNetError(err) {
		return notReachable()
	}
	if strings.Contains(text, "empty EC2 IMDS role list") {
		return noProfile(o)
	}
	switch status := httpStatus(err); status {
	case 0:
	case 404:
		return noProfile(o)
	case 401, 403:
		return credbroker.Errorf(credbroker.CodeUpstream, field,
			"the instance metadata service at %s refused the request (HTTP %d)", o.endpoint, status).
			WithFix("check that the instance allows metadata access (http-endpoint enabled, hop limit)")
	default:
		return credbroker.Errorf(credbroker.CodeUpstream, field,
			"the instance metadata service at %s answered HTTP %d", o.endpoint, status).
			WithFix("retry; the metadata service may be restarting")
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() != "" {
		return credbroker.Errorf(credbroker.CodeUpstream, field,
			"the instance metadata service at %s could not give the instance profile's credentials: %s", o.endpoint, safeCode(api.ErrorCode())).
			WithFix("check the instance profile's role (it may have been deleted, or its trust policy may not allow ec2.amazonaws.com)")
	}
	return credbroker.Errorf(credbroker.CodeUpstream, field,
		"could not get credentials from the instance metadata service at %s", o.endpoint).
		WithFix("the underlying error is kept in the log")
}

func noProfile(o origin) *credbroker.Error {
	return credbroker.Errorf(credbroker.CodeUnprocessable, "instance",
		"the instance has no instance profile (the metadata service at %s lists no role)", o.endpoint).
		WithFix("attach an instance profile with a role to the instance, or use another credential source")
}

// unreachableText recognises, in an error's text, a request that got no
// answer.
func unreachableText(s string) bool {
	for _, sign := range []string{
		"dial tcp", "connection refused", "deadline exceeded", "i/o timeout", "no such host",
		"connection reset", "request canceled", "network is unreachable", "no route to host", "EOF",
	} {
		if strings.Contains(s, sign) {
			return true
		}
	}
	return false
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

func httpStatus(err error) int {
	var se interface{ HTTPStatusCode() int }
	if errors.As(err, &se) {
		return se.HTTPStatusCode()
	}
	return 0
}

// statusRE finds an HTTP status in an error's text, compiled on first use.
var statusRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`StatusCode: (\d{3})`) })

func statusInText(s string) int {
	m := statusRE().FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// safeCode keeps an error code that looks like one (letters, digits, dots),
// and nothing else, so that no free text slips into a message.
func safeCode(code string) string {
	if len(code) > 64 {
		return "an error"
	}
	for _, r := range code {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "an error"
		}
	}
	return code
}
