-- Migration 9: the ID tokens that were used once.
--
-- An issuer with reject_replay accepts each of its tokens once. The brokers
-- of a fleet record each token they accept here, so that a token used at
-- one broker is refused at every other. key is a SHA-256 hash, in hex, of
-- the issuer's name and the token's jti (no token, and no jti in the
-- clear); expires_us is when the claim ends, by the database's clock: the
-- token's expiry and its issuer's leeway.

CREATE TABLE used_token_ids (
    key        TEXT   NOT NULL PRIMARY KEY,
    expires_us BIGINT NOT NULL
);

CREATE INDEX used_token_ids_expiry ON used_token_ids (expires_us);
