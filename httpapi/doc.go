// Package httpapi is the broker's HTTP API: the server that `credbroker
// serve` runs in front of the broker service, and the Go client that the
// CLI and the agent use to talk to it.
//
// The server authenticates every /v1 request with a Bearer token and hands
// the token to the Service, which decides what the token may do. Errors are
// always JSON {"code": "...", "message": "..."}, with the status chosen by
// StatusForCode from the credbroker error code; text that is not a
// credbroker.Error's public message (database or upstream text) never
// reaches a client. Request bodies are small, strictly decoded JSON; failed
// authentications are rate limited per client address before a token is
// even checked; and one structured log line per request records method,
// route pattern, status, duration, token ID and request ID, never a token,
// a body or a secret.
//
// Routes:
//
//	POST   /v1/credentials             vend credentials (VendRequest → VendResult)
//	GET    /v1/agent/variables?plan=   global and plan variables, secrets decrypted
//	POST   /v1/console                 console sign-in URL
//	GET    /v1/connectors              list connectors
//	POST   /v1/connectors              create a connector (201)
//	GET    /v1/connectors/{ref}        get a connector by ID or name
//	PUT    /v1/connectors/{ref}        update a connector
//	DELETE /v1/connectors/{ref}        delete a connector (204)
//	GET    /v1/tokens                  list tokens
//	POST   /v1/tokens                  create a token (201; the secret is shown once)
//	DELETE /v1/tokens/{id}             revoke a token (204)
//	GET    /v1/variables?plan=         list variables, secret values blank
//	PUT    /v1/variables/{name}?plan=  set a variable (204)
//	DELETE /v1/variables/{name}?plan=  delete a variable (204)
//	GET    /v1/audit?since=&until=&plan=&connector=&outcome=&action=&after=&limit=
//	GET    /v1/audit/verify            verify the audit chain
//	GET    /healthz, /livez            liveness, no authentication
//	GET    /readyz                     readiness (Service.Ready), no authentication
//	GET    /metrics                    Prometheus metrics (metrics or admin token), when enabled
package httpapi
