// Package policy checks IAM session policies and decides whether a request
// may narrow a connector's session policies. It imports only the standard
// library; ARN checks, which need partitions, live in package awscreds.
//
// # Validation
//
// Validate accepts what STS accepts as an inline session policy, and a
// little less where STS's rules are unclear (it is stricter rather than
// looser): a JSON object with an optional "Version" ("2012-10-17" or
// "2008-10-17"), an optional "Id" and a "Statement" that is one statement
// object or a non-empty array of them. Each statement has "Effect" ("Allow"
// or "Deny"), exactly one of "Action" and "NotAction" and exactly one of
// "Resource" and "NotResource" (each a string or a non-empty array of
// strings), and optionally "Sid" and "Condition". "Principal" and
// "NotPrincipal" are refused: a session policy has no principal. Unknown
// elements and duplicate keys are refused, so that what this package
// reasons about is exactly what STS evaluates. The characters must be those
// STS allows (tab, line feed, carriage return, U+0020 to U+00FF), and the
// policy with the whitespace outside strings removed (json.Compact) must be
// at most MaxSize (2,048) characters, STS's limit. Validate returns that
// compact form, which is what should be sent to STS.
//
// Errors are *credbroker.Error values whose Field is the caller's field
// name followed by the path inside the document, such as
// "policy.Statement[1].Effect" (indexes count from 0).
//
// # Narrowing
//
// A connector may carry session policies: an inline policy and managed
// policy ARNs. A vend request may carry its own, to get credentials with
// fewer permissions than the connector gives. Narrow decides whether the
// request's set is acceptable and returns the set to send to STS:
//
//   - A request's policy and ARNs REPLACE the connector's session policies
//     for that vend. They are accepted only if they grant no more than the
//     connector's do.
//   - A request with neither keeps the connector's own set.
//   - If the connector has no session policy at all, any valid request
//     policy and ARNs are accepted: a session policy can only narrow the
//     role's permissions, never widen them.
//   - Otherwise each request ARN must be one of the connector's ARNs (exact
//     match). A request inline policy needs the connector to have an inline
//     policy, because the contents of managed policies are not known here,
//     and must be covered by it:
//   - every request Allow statement must use Action and Resource
//     (NotAction and NotResource cannot be verified and are refused), and
//     each (action, resource) pair it names must be covered by a single
//     Allow statement of the connector's inline policy that has no
//     Condition, or whose Condition is exactly equal to the request
//     statement's;
//   - request Deny statements are always accepted: they only take away.
//   - The connector's Deny statements are added to the effective inline
//     policy (without their Sid), so a request can never escape them, even
//     when it names managed policies only.
//   - The effective inline policy keeps the connector's "Version", so that
//     policy variables mean the same in the result as they did in the
//     connector's policy.
//
// A pattern A is covered by a pattern B when every string A can match is
// matched by B. The check is conservative and sound: B's "*" may consume
// any run of A's characters and wildcards, B's "?" one character of A that
// is not "*", and literals must be equal. IAM action names compare
// case-insensitively, resources case-sensitively. Because IAM's wildcards
// may or may not cross the colons that separate ARN (and action) segments,
// a pair must be covered both when they do and when they do not. A policy
// variable such as ${aws:username} in a request resource is treated as
// "*"; one in a connector resource only covers the identical text.
//
// Widening is refused with a *credbroker.Error with CodeForbidden, Field
// "policy" or "policy_arns", and a message naming the first action and
// resource or ARN that is not covered. The effective inline policy is
// checked against MaxSize again: adding the connector's Deny statements can
// make it too large.
package policy
