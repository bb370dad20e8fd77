// Package deptest holds credbroker's import graph to the cut that the root
// package's doc comment promises: the root package imports only the
// standard library; each heavy dependency is imported by exactly one
// package (the AWS SDK by awscreds, pgx by postgres, the SQLite driver by
// sqlite, cobra by cli, and, when they come, go-oidc and go-jose by one
// oidc package and prometheus by one metrics package); chromedp only in
// tests; the domain's inner packages reach no heavy dependency at all, not
// even through another package. A module path that no rule names fails
// the test too, so that a new dependency comes with a decision about where
// it may live.
//
// The rules are in deptest_test.go; the test runs `go list` for linux,
// darwin and windows, and is a step of scripts/test. It has no code of
// its own, like tailscale's tstest/deptest that it follows.
package deptest
