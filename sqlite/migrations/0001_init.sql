-- Migration 1: the first schema of the credbroker store.
--
-- Times are integer unix microseconds (NULL for a zero time), the precision
-- the audit hash covers, so a record read back hashes as it was written.
-- Durations are integer nanoseconds. List-valued connector fields are JSON
-- arrays in text. A sealed secret is its blob and the key version that
-- wraps it; no secret is ever stored in the clear.

CREATE TABLE connectors (
    id                   TEXT    NOT NULL PRIMARY KEY,
    name                 TEXT    NOT NULL UNIQUE,
    description          TEXT    NOT NULL,
    principal            TEXT    NOT NULL,
    base                 TEXT    NOT NULL,
    base_connector       TEXT    REFERENCES connectors (id),
    access_key_id        TEXT    NOT NULL,
    secret_blob          BLOB,
    secret_key_version   INTEGER,
    region               TEXT    NOT NULL,
    role_arn             TEXT    NOT NULL,
    external_id          TEXT    NOT NULL,
    federated_name       TEXT    NOT NULL,
    policy               TEXT    NOT NULL,
    policy_arns          TEXT    NOT NULL,
    default_duration_ns  INTEGER NOT NULL,
    max_duration_ns      INTEGER NOT NULL,
    scope_kind           TEXT    NOT NULL,
    scope_key            TEXT    NOT NULL,
    allow_plans          TEXT    NOT NULL,
    session_mode         TEXT    NOT NULL,
    tags                 TEXT    NOT NULL,
    transitive_tag_keys  TEXT    NOT NULL,
    disable_tags         INTEGER NOT NULL,
    sts_endpoints        TEXT    NOT NULL,
    retry_max_attempts   INTEGER NOT NULL,
    retry_max_backoff_ns INTEGER NOT NULL,
    created_us           INTEGER,
    updated_us           INTEGER,
    revision             INTEGER NOT NULL,
    CHECK ((secret_blob IS NULL) = (secret_key_version IS NULL))
) STRICT;

-- DeleteConnector asks which connectors use one as their base.
CREATE INDEX connectors_base ON connectors (base_connector) WHERE base_connector IS NOT NULL;

CREATE TABLE tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    plans      TEXT    NOT NULL,
    hash       BLOB    NOT NULL,
    created_us INTEGER,
    expires_us INTEGER,
    revoked_us INTEGER
) STRICT;

-- plan is '' for a global variable. A plain variable keeps its value; a
-- secret one keeps only its sealed blob.
CREATE TABLE variables (
    plan        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    value       TEXT,
    secret      INTEGER NOT NULL,
    sealed_blob BLOB,
    key_version INTEGER,
    updated_us  INTEGER,
    PRIMARY KEY (plan, name),
    CHECK ((secret = 1 AND value IS NULL AND sealed_blob IS NOT NULL AND key_version IS NOT NULL)
        OR (secret = 0 AND value IS NOT NULL AND sealed_blob IS NULL AND key_version IS NULL))
) STRICT;

CREATE TABLE audit (
    seq           INTEGER NOT NULL PRIMARY KEY,
    time_us       INTEGER,
    action        TEXT    NOT NULL,
    token_id      TEXT    NOT NULL,
    plan          TEXT    NOT NULL,
    build         TEXT    NOT NULL,
    job           TEXT    NOT NULL,
    task          TEXT    NOT NULL,
    connector     TEXT    NOT NULL,
    role_arn      TEXT    NOT NULL,
    access_key_id TEXT    NOT NULL,
    expiration_us INTEGER,
    outcome       TEXT    NOT NULL,
    error_code    TEXT    NOT NULL,
    detail        TEXT    NOT NULL,
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL
) STRICT;

CREATE INDEX audit_time ON audit (time_us);
CREATE INDEX audit_plan ON audit (plan, seq);
CREATE INDEX audit_connector ON audit (connector, seq);

-- The store only ever appends to the trail. These triggers stop an edit or
-- a delete made by mistake; one made on purpose (dropping them first)
-- still breaks the hash chain, and deleting the last records leaves
-- audit_head ahead of the trail.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;

-- The sequence and hash of the last record appended, updated in the same
-- transaction as every append.
CREATE TABLE audit_head (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
) STRICT;

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Sealed values of the store itself; key 'keycheck' proves the master key.
CREATE TABLE meta (
    key         TEXT    NOT NULL PRIMARY KEY,
    key_version INTEGER NOT NULL,
    blob        BLOB    NOT NULL
) STRICT;
