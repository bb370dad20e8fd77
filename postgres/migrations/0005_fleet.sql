-- Migration 5: what the brokers on one database share.
--
-- shared_sessions holds the STS sessions brokers were issued, so that any
-- broker of the fleet can hand out a session another one got. key is the
-- broker's cache key of the session (a SHA-256 hash of the connector and
-- its revision, the plan, build and job, and the vend's parameters, in
-- hex); blob is the credentials sealed under the master key with
-- "session/KEY" as associated data, so a blob copied onto another key does
-- not open. expires_us is a copy of the sealed expiry, for finding the rows
-- to delete; brokers trust the sealed one.
--
-- sts_budget holds one token bucket per base identity and region (bucket
-- is a hash of both): tokens left (negative while calls are booked ahead),
-- when they were counted (at_us, by the database's clock) and the rate
-- and burst the last broker to take a turn refills it with. Nothing in
-- either table is a secret in the clear.

CREATE TABLE shared_sessions (
    key         TEXT    NOT NULL PRIMARY KEY,
    key_version INTEGER NOT NULL,
    blob        BYTEA   NOT NULL,
    expires_us  BIGINT  NOT NULL
);

CREATE INDEX shared_sessions_expiry ON shared_sessions (expires_us);

CREATE TABLE sts_budget (
    bucket TEXT             NOT NULL PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    rate   DOUBLE PRECISION NOT NULL,
    burst  INTEGER          NOT NULL,
    at_us  BIGINT           NOT NULL
);
