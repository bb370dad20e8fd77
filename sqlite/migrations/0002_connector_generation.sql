-- Migration 2: a generation number of the connectors table.
--
-- It moves with every insert, update and delete of a connector, whichever
-- program makes it (triggers, not the store's code, so a broker of an
-- older version that shares the file moves it too). A broker that holds
-- opened connectors in memory reads this one row to learn that none of
-- them changed, instead of asking for each connector's revision.

CREATE TABLE connector_generation (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
) STRICT;

INSERT INTO connector_generation (id, n) VALUES (1, 0);

CREATE TRIGGER connectors_generation_insert AFTER INSERT ON connectors
BEGIN
    UPDATE connector_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER connectors_generation_update AFTER UPDATE ON connectors
BEGIN
    UPDATE connector_generation SET n = n + 1 WHERE id = 1;
END;

CREATE TRIGGER connectors_generation_delete AFTER DELETE ON connectors
BEGIN
    UPDATE connector_generation SET n = n + 1 WHERE id = 1;
END;
