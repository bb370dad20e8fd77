-- Migration 3: trusted OIDC issuers, the bindings of their tokens' claims
-- to plans, and who acted in the audit of a request made with an ID token.
--
-- An issuer holds no secret: the broker verifies its tokens with the keys
-- it publishes. List-valued fields are JSON arrays in text; a binding's
-- rules (subject and claim patterns, the plan template or pattern, the
-- claims that become tags, session names and audit fields) are one JSON
-- object, read and written whole by the store.

CREATE TABLE issuers (
    name          TEXT    NOT NULL PRIMARY KEY,
    url           TEXT    NOT NULL UNIQUE,
    description   TEXT    NOT NULL,
    discovery_url TEXT    NOT NULL,
    jwks_url      TEXT    NOT NULL,
    audiences     TEXT    NOT NULL,
    algorithms    TEXT    NOT NULL,
    leeway_s      INTEGER NOT NULL,
    reject_replay BOOLEAN NOT NULL,
    created_us    BIGINT,
    updated_us    BIGINT,
    revision      BIGINT  NOT NULL
);

CREATE TABLE bindings (
    name        TEXT   NOT NULL PRIMARY KEY,
    issuer      TEXT   NOT NULL REFERENCES issuers (name),
    description TEXT   NOT NULL,
    rules       TEXT   NOT NULL,
    created_us  BIGINT,
    updated_us  BIGINT,
    revision    BIGINT NOT NULL
);

-- DeleteIssuer asks which bindings use an issuer.
CREATE INDEX bindings_issuer ON bindings (issuer);

-- A generation number of both tables, moved by a trigger (whichever
-- program changes them), so that a broker holding the issuers and
-- bindings in memory learns with one read that none changed.
CREATE TABLE identity_generation (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  BIGINT  NOT NULL
);

INSERT INTO identity_generation (id, n) VALUES (1, 0);

CREATE FUNCTION credbroker_identity_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE identity_generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER issuers_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON issuers
    FOR EACH STATEMENT EXECUTE FUNCTION credbroker_identity_generation();

CREATE TRIGGER bindings_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bindings
    FOR EACH STATEMENT EXECUTE FUNCTION credbroker_identity_generation();

-- The issuer (iss), subject (sub) and claims of the ID token a request was
-- made with; empty for a request made with an agent token, which is also
-- what the hash of a record written before these columns existed covers.
ALTER TABLE audit ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN claims TEXT NOT NULL DEFAULT '[]';
