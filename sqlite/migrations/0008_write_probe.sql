-- Migration 8: the row that the readiness check writes.
--
-- /readyz reports ready only while the store takes writes. When no audit
-- record was committed for a few seconds, the broker proves it by moving
-- this one row in a committed transaction (which a full disk, a read-only
-- file system or a read-only database refuses), at most once a second.

CREATE TABLE write_probe (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    at_us INTEGER NOT NULL
) STRICT;

INSERT INTO write_probe (id, at_us) VALUES (1, 0);
