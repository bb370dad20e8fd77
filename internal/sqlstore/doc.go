// Package sqlstore is credbroker.Store written once, over database/sql:
// connectors with revisions and generation, tokens, variables, the audit
// chain and its multi-row inserts, the rewrap compare-and-swap, the key
// check and the migration runner. Package sqlite and package postgres open
// and configure their database and hand it to Open with a Dialect, the
// short list of what really differs between the two; they hold no store
// logic of their own.
//
// # Queries
//
// Every query is written once, in the SQL both databases accept, with
// numbered parameters $1, $2, ... (PostgreSQL's; modernc.org/sqlite binds
// $N to the Nth argument too, and a parameter used twice is bound once).
// What cannot be written the same way comes from the Dialect and is
// spliced into the text: ByteOrder after a text column in ORDER BY,
// ForUpdate or ForNoKeyUpdate after a SELECT of a row the transaction goes
// on to change. Booleans are tested as `WHERE secret`, true in both. Times
// are unix microseconds and durations nanoseconds, in integers (see
// codec.go).
//
// # Adding a table or a store method
//
//  1. Add the migration to both sqlite/migrations and postgres/migrations,
//     under the same number (NNNN_name.sql). Numbers are taken in the order
//     work is planned, so a gap is allowed (package internal/migrate plans
//     what a database lacks, and the runner here applies it); a migration
//     must not depend on one with a higher number, since a database may get
//     them in either order.
//  2. Add the method to the interface in the root package (store.go) and
//     its contract test to package storetest, which both stores run.
//  3. Write the method once, here, in the file of its table: reads through
//     s.read, writes through s.write (which runs the change and its audit
//     records in one transaction), errors through s.fail or as
//     *credbroker.Error values with a code and a field. s.read and s.write
//     bring the retries, the time bound and the error classification of
//     the database the store runs on.
//  4. Only where the SQL cannot be the same, add a field to Dialect, set it
//     in both dialects (sqlite.dialect, postgres.dialect), and say in its
//     comment what each database needs.
//
// A statement on a hot path goes through s.prepared, which prepares it
// once per database handle; a statement used inside a write transaction
// must be prepared before the transaction begins (s.write does that for
// the audit statements), because SQLite's writer has a single connection
// and the transaction holds it.
package sqlstore
