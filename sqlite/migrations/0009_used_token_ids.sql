-- Migration 9: the ID tokens that were used once.
--
-- The table is the PostgreSQL store's, kept the same on both (as
-- migration 5's): a broker on the embedded store serves alone and keeps
-- the IDs of the tokens it accepted in its own process. key is a SHA-256
-- hash, in hex, of an issuer's name and a token's jti; expires_us is when
-- the claim ends.

CREATE TABLE used_token_ids (
    key        TEXT    NOT NULL PRIMARY KEY,
    expires_us INTEGER NOT NULL
) STRICT;

CREATE INDEX used_token_ids_expiry ON used_token_ids (expires_us);
