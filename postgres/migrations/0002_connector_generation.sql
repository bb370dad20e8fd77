-- Migration 2: a generation number of the connectors table.
--
-- It moves with every statement that inserts, updates or deletes
-- connectors, whichever program runs it (a trigger, not the store's code,
-- so a broker of an older version on the same database moves it too). A
-- broker that holds opened connectors in memory reads this one row to
-- learn that none of them changed, instead of asking for each connector's
-- revision. A connector change locks the row until it commits, after the
-- connector's own row and before audit_head, the lock order every
-- transaction keeps.

CREATE TABLE connector_generation (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  BIGINT  NOT NULL
);

INSERT INTO connector_generation (id, n) VALUES (1, 0);

CREATE FUNCTION credbroker_connector_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE connector_generation SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER connectors_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON connectors
    FOR EACH STATEMENT EXECUTE FUNCTION credbroker_connector_generation();
