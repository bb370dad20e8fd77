-- Migration 7: a connector's account guard.
--
-- A JSON array of the 12-digit AWS accounts a session of the connector may
-- belong to, '[]' for no guard: the broker refuses a vend whose session STS
-- issued in another account. Connectors stored before this column existed
-- have no guard, as before. (Numbers 3 to 5 are kept for other changes;
-- the runner applies whatever a database has not had yet, in order.)

ALTER TABLE connectors ADD COLUMN allowed_account_ids TEXT NOT NULL DEFAULT '[]';
