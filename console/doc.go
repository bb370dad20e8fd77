// Package console is the broker's web console: connectors, tokens,
// variables, trusted OIDC issuers and their bindings, and the audit trail
// in a browser, served by `credbroker serve` on the API's listener under
// /console/.
//
// Pages are rendered on the server with html/template from templates
// embedded in the binary, with one embedded stylesheet and one small
// script that only adds conveniences (a copy button, a live character
// count): every action works with plain forms and no JavaScript. Every
// change goes through the same broker service as the API, so it is
// validated by the same rules, answered with the same field-level
// messages, and audited the same way.
//
// Security:
//
//   - An administrator signs in by pasting an admin token once. It becomes
//     a server-side session: a 256-bit random ID in a cookie (HttpOnly,
//     SameSite=Strict, Secure and __Host- under TLS), kept by the server
//     only as its SHA-256, ending after IdleTimeout without a request,
//     Lifetime after sign-in, at sign-out, and when the token is revoked
//     or expires. Each sign-in makes a new ID, so an ID planted before it
//     (session fixation) is never honoured. Agent tokens cannot sign in.
//     Failed sign-ins spend the same per-address budget as the API's
//     failed authentications.
//   - Every state-changing request is a POST that carries the session's
//     CSRF token (the sign-in form a pre-session one, double-submitted in a
//     cookie), and is refused when the browser says it is cross-site
//     (Sec-Fetch-Site, Origin: net/http's CrossOriginProtection).
//   - Every response carries a strict Content-Security-Policy (scripts and
//     styles from the console itself only, no inline script or style, no
//     framing), X-Frame-Options DENY, nosniff, no-referrer and
//     Cache-Control no-store. html/template escapes every value shown.
//   - Secrets are write-only: a connector's secret key and secret
//     variables can be replaced, never shown; a new token's secret is shown
//     once on the page that created it; the connector test shows the
//     identity and expiry of the session it obtained, never its keys.
package console
