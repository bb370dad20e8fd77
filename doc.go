// Package credbroker holds the domain of credbroker: the credentials a build
// task receives, the sources they come from, the broker's connectors, tokens,
// variables and audit records, and the small interfaces the other packages
// implement. It imports only the standard library; every heavy dependency
// (the AWS SDK, SQLite, PostgreSQL, cobra) lives in exactly one sub-package
// and depends inward on this one. The test in internal/deptest holds the
// import graph to this.
package credbroker
