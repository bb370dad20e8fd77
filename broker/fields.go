package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/credbroker/credbroker"
)

// Bounds of what a vend request may carry. Everything a request writes
// into the audit is bounded, so that a refused vend cannot append more
// than a few hundred bytes.
const (
	// maxConnectorRef bounds a connector's name or ID in a request: names
	// have at most 64 characters, IDs 20.
	maxConnectorRef = 64
	// maxDurationSeconds is the longest session STS issues at all
	// (GetFederationToken, GetSessionToken: 36 hours). Larger numbers are
	// refused as out of range before they are turned into a duration,
	// where 2^55+900 seconds would wrap around to 900.
	maxDurationSeconds = 36 * 3600
	// maxRequestTags is STS's limit on session tags; the request's come on
	// top of the build's three, so STS refuses more anyway.
	maxRequestTags = 50
	maxTagKeyLen   = 128
	maxTagValueLen = credbroker.MaxTagValue
	// maxPolicyARNs and maxPolicyLen bound the request's policies as STS
	// does (10 ARNs; 2,048 characters without whitespace, so a request
	// policy is refused well before the body limit).
	maxPolicyARNs  = 10
	maxPolicyARN   = 2048
	maxPolicyBytes = 16 << 10
)

// checkVendRequest refuses a vend request with a field out of its bounds:
// free text with control or formatting characters (which forge rows of
// `credbroker audit` and drive terminals) or too long, a plan that is not
// a plan key, numbers out of range, tags with credbroker's reserved prefix.
// It runs before anything else, so that the audit record of a refusal
// holds nothing unchecked.
func checkVendRequest(req *credbroker.VendRequest) error {
	if req.Connector == "" {
		return credbroker.Errorf(credbroker.CodeInvalid, "connector", "missing").WithFix("name the connector to vend from")
	}
	if err := credbroker.CheckField("connector", req.Connector, maxConnectorRef); err != nil {
		return err
	}
	if err := checkPlan("plan", req.Plan); err != nil {
		return err
	}
	for _, f := range [...]struct{ name, v string }{{"build", req.Build}, {"job", req.Job}, {"task", req.Task}} {
		if err := credbroker.CheckField(f.name, f.v, credbroker.MaxFieldLen); err != nil {
			return err
		}
	}
	if err := checkSeconds("duration_seconds", req.DurationSeconds); err != nil {
		return err
	}
	if err := checkSeconds("min_remaining_seconds", req.MinRemainingSeconds); err != nil {
		return err
	}
	if len(req.Policy) > maxPolicyBytes {
		return credbroker.Errorf(credbroker.CodeInvalid, "policy", "longer than %d bytes", maxPolicyBytes).
			WithFix("a session policy has at most 2,048 characters without whitespace")
	}
	if len(req.PolicyARNs) > maxPolicyARNs {
		return credbroker.Errorf(credbroker.CodeInvalid, "policy_arns", "%d policy ARNs; STS takes at most %d", len(req.PolicyARNs), maxPolicyARNs)
	}
	for i, a := range req.PolicyARNs {
		if err := credbroker.CheckField(fmt.Sprintf("policy_arns[%d]", i), a, maxPolicyARN); err != nil {
			return err
		}
	}
	return checkRequestTags(req.Tags)
}

// checkPlan refuses a plan that is not a plan key ("" is no plan).
func checkPlan(field, plan string) error {
	if plan == "" {
		return nil
	}
	if err := credbroker.CheckField(field, plan, credbroker.MaxFieldLen); err != nil {
		return err
	}
	if !validPlanKey(plan) {
		return credbroker.Errorf(credbroker.CodeInvalid, field, "invalid plan key %q", plan).
			WithFix("use a plan key PROJECT-PLAN in capitals, e.g. OPS-DEPLOY")
	}
	return nil
}

// checkSeconds refuses a number of seconds below 0 or above what any STS
// session lasts.
func checkSeconds(field string, n int) error {
	switch {
	case n < 0:
		return credbroker.Errorf(credbroker.CodeInvalid, field, "must not be negative")
	case n > maxDurationSeconds:
		return credbroker.Errorf(credbroker.CodeInvalid, field, "%d is out of range: no session lasts longer than %d seconds (36 hours)", n, maxDurationSeconds).
			WithFix("give whole seconds, at most the connector's maximum")
	}
	return nil
}

// seconds turns a number checked by checkSeconds into a duration.
func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// checkRequestTags refuses more tags than STS takes, keys and values over
// its lengths or holding control characters, and any key with the prefix
// credbroker keeps for the tags that name the build: a role's policies on
// aws:PrincipalTag/credbroker:job would otherwise trust a value the
// request chose, whenever the build omits its job (or number, or plan).
func checkRequestTags(tags []credbroker.Tag) error {
	if len(tags) > maxRequestTags {
		return credbroker.Errorf(credbroker.CodeInvalid, "tags", "%d session tags; STS takes at most %d", len(tags), maxRequestTags)
	}
	for i, t := range tags {
		key := fmt.Sprintf("tags[%d].key", i)
		if err := credbroker.CheckField(key, t.Key, maxTagKeyLen*4); err != nil {
			return err
		}
		if err := credbroker.CheckField(fmt.Sprintf("tags[%d].value", i), t.Value, maxTagValueLen*4); err != nil {
			return err
		}
		if credbroker.ReservedTagKey(t.Key) {
			return credbroker.Errorf(credbroker.CodeInvalid, key,
				"tag key %q starts with %q, which credbroker keeps for the tags that name the build", t.Key, credbroker.TagKeyPrefix).
				WithFix("use another tag key; the broker sets credbroker:plan, credbroker:build and credbroker:job itself")
		}
	}
	return nil
}

// auditReason is the real reason of a refusal whose caller is told less
// (see connectorUnavailable): the audit records it, and the broker's log
// shows it as the cause; the caller sees only the error that holds it.
type auditReason struct{ err error }

// Error is the real reason's public message.
func (a *auditReason) Error() string { return credbroker.PublicMessage(a.err) }

// connectorUnavailable is what an agent token is told when the connector
// it named does not exist, or exists but its plan may not use it: the same
// answer, 404, naming neither the connector asked for (a task may have
// named it through a secret variable) nor any scope or allow-list, so that
// a token learns nothing of the connectors of other projects. The audit
// has the reason (reason, when there is one to record).
func connectorUnavailable(plan string, reason error) error {
	who := "builds with no plan"
	if plan != "" {
		who = "plan " + plan
	}
	e := credbroker.Errorf(credbroker.CodeNotFound, "connector", "no connector of that name is available to %s", who).
		WithFix("check the connector's name, and the variable that holds it; if it exists, an administrator can see in the broker's audit why this plan may not use it")
	if reason != nil {
		e.Err = &auditReason{err: reason}
	}
	return e
}

// refusalOutcome is the error code and detail the audit records for a
// refused vend: the real reason where the caller was told less.
func refusalOutcome(err error) (credbroker.Code, string) {
	var ar *auditReason
	if errors.As(err, &ar) {
		err = ar.err
	}
	return credbroker.ErrorCode(err), credbroker.CleanField(credbroker.PublicMessage(err), maxDetail)
}

// maxDetail bounds the detail of an audit record.
const maxDetail = 300
