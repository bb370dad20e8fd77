-- Migration 10: the web console's sessions, shared by a fleet.
--
-- Brokers on one PostgreSQL database keep the console's sessions here, so
-- that a session opened at one broker is known to every other one behind
-- the same balancer, and survives a broker's restart. key is a SHA-256
-- hash, in hex, of the session ID, which only the browser's cookie holds:
-- a copy of this table opens no session. csrf is the session's form token,
-- of no use without that cookie. ends_us is when the session ends at the
-- latest (idle timeout or lifetime); the fleet's sweep deletes it then.
-- The embedded store's single broker keeps its sessions in memory, as
-- before; the table is the same on both stores.

CREATE TABLE console_sessions (
    key          TEXT    NOT NULL PRIMARY KEY,
    token_id     TEXT    NOT NULL,
    token_name   TEXT    NOT NULL,
    csrf         TEXT    NOT NULL,
    flash        TEXT    NOT NULL,
    created_us   INTEGER NOT NULL,
    last_seen_us INTEGER NOT NULL,
    ends_us      INTEGER NOT NULL
) STRICT;

CREATE INDEX console_sessions_end ON console_sessions (ends_us);
