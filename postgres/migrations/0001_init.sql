-- Migration 1: the first schema of the credbroker store.
--
-- Times are unix microseconds in BIGINT (NULL for a zero time), the
-- precision the audit hash covers, so a record read back hashes as it was
-- written. Durations are BIGINT nanoseconds. List-valued connector fields
-- are JSON arrays in text. A sealed secret is its blob and the key version
-- that wraps it; no secret is ever stored in the clear.

CREATE TABLE connectors (
    id                   TEXT    NOT NULL PRIMARY KEY,
    name                 TEXT    NOT NULL UNIQUE,
    description          TEXT    NOT NULL,
    principal            TEXT    NOT NULL,
    base                 TEXT    NOT NULL,
    base_connector       TEXT    REFERENCES connectors (id),
    access_key_id        TEXT    NOT NULL,
    secret_blob          BYTEA,
    secret_key_version   INTEGER,
    region               TEXT    NOT NULL,
    role_arn             TEXT    NOT NULL,
    external_id          TEXT    NOT NULL,
    federated_name       TEXT    NOT NULL,
    policy               TEXT    NOT NULL,
    policy_arns          TEXT    NOT NULL,
    default_duration_ns  BIGINT  NOT NULL,
    max_duration_ns      BIGINT  NOT NULL,
    scope_kind           TEXT    NOT NULL,
    scope_key            TEXT    NOT NULL,
    allow_plans          TEXT    NOT NULL,
    session_mode         TEXT    NOT NULL,
    tags                 TEXT    NOT NULL,
    transitive_tag_keys  TEXT    NOT NULL,
    disable_tags         BOOLEAN NOT NULL,
    sts_endpoints        TEXT    NOT NULL,
    retry_max_attempts   INTEGER NOT NULL,
    retry_max_backoff_ns BIGINT  NOT NULL,
    created_us           BIGINT,
    updated_us           BIGINT,
    revision             BIGINT  NOT NULL,
    CHECK ((secret_blob IS NULL) = (secret_key_version IS NULL))
);

-- DeleteConnector asks which connectors use one as their base.
CREATE INDEX connectors_base ON connectors (base_connector) WHERE base_connector IS NOT NULL;

CREATE TABLE tokens (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    role       TEXT   NOT NULL,
    plans      TEXT   NOT NULL,
    hash       BYTEA  NOT NULL,
    created_us BIGINT,
    expires_us BIGINT,
    revoked_us BIGINT
);

-- plan is '' for a global variable. A plain variable keeps its value; a
-- secret one keeps only its sealed blob.
CREATE TABLE variables (
    plan        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    value       TEXT,
    secret      BOOLEAN NOT NULL,
    sealed_blob BYTEA,
    key_version INTEGER,
    updated_us  BIGINT,
    PRIMARY KEY (plan, name),
    CHECK ((secret AND value IS NULL AND sealed_blob IS NOT NULL AND key_version IS NOT NULL)
        OR (NOT secret AND value IS NOT NULL AND sealed_blob IS NULL AND key_version IS NULL))
);

CREATE TABLE audit (
    seq           BIGINT NOT NULL PRIMARY KEY,
    time_us       BIGINT,
    action        TEXT   NOT NULL,
    token_id      TEXT   NOT NULL,
    plan          TEXT   NOT NULL,
    build         TEXT   NOT NULL,
    job           TEXT   NOT NULL,
    task          TEXT   NOT NULL,
    connector     TEXT   NOT NULL,
    role_arn      TEXT   NOT NULL,
    access_key_id TEXT   NOT NULL,
    expiration_us BIGINT,
    outcome       TEXT   NOT NULL,
    error_code    TEXT   NOT NULL,
    detail        TEXT   NOT NULL,
    prev_hash     TEXT   NOT NULL,
    hash          TEXT   NOT NULL
);

CREATE INDEX audit_time ON audit (time_us);
CREATE INDEX audit_plan ON audit (plan, seq);
CREATE INDEX audit_connector ON audit (connector, seq);

-- The store only ever appends to the trail. This trigger stops an edit, a
-- delete or a truncation made by mistake; one made on purpose (disabling
-- it first) still breaks the hash chain, and deleting the last records
-- leaves audit_head ahead of the trail.
CREATE FUNCTION credbroker_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END
$$;

CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION credbroker_audit_append_only();

CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION credbroker_audit_append_only();

-- The sequence and hash of the last record appended, updated in the same
-- transaction as every append. Appenders lock this row (SELECT ... FOR
-- UPDATE), which serializes them across every broker on the database.
CREATE TABLE audit_head (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL,
    hash TEXT    NOT NULL
);

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Sealed values of the store itself; key 'keycheck' proves the master key.
CREATE TABLE meta (
    key         TEXT    NOT NULL PRIMARY KEY,
    key_version INTEGER NOT NULL,
    blob        BYTEA   NOT NULL
);
