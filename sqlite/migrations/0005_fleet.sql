-- Migration 5: what the brokers on one database share.
--
-- The same tables as in PostgreSQL (postgres/migrations/0005_fleet.sql
-- says what they hold), so that the store's logic and its tests are the
-- same on both. A broker on the embedded store shares nothing with other
-- brokers and keeps its sessions, single flight and STS budget in its own
-- process: it does not write these tables.

CREATE TABLE shared_sessions (
    key         TEXT    NOT NULL PRIMARY KEY,
    key_version INTEGER NOT NULL,
    blob        BLOB    NOT NULL,
    expires_us  INTEGER NOT NULL
) STRICT;

CREATE INDEX shared_sessions_expiry ON shared_sessions (expires_us);

CREATE TABLE sts_budget (
    bucket TEXT    NOT NULL PRIMARY KEY,
    tokens REAL    NOT NULL,
    rate   REAL    NOT NULL,
    burst  INTEGER NOT NULL,
    at_us  INTEGER NOT NULL
) STRICT;
