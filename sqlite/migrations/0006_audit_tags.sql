-- Migration 6: the session tags of a vend's audit record.
--
-- A JSON array of {"key","value"} objects, '[]' for none. Records written
-- before this column existed read back with no tags, which is also what
-- their hash covers: a record's hash includes its tags only when it has
-- some. (Numbers 3 to 5 are kept for other changes; the runner applies
-- whatever a database has not had yet, in order.)

ALTER TABLE audit ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
