-- Helpers shared by every table that keeps an `updated_at` column.
--
-- `track_updated_at('some_table')` attaches a trigger that moves `updated_at`
-- forward whenever a row really changes and the statement did not set the
-- column itself.

CREATE OR REPLACE FUNCTION track_updated_at(target regclass) RETURNS void AS $$
BEGIN
    EXECUTE format(
        'CREATE TRIGGER bump_updated_at BEFORE UPDATE ON %s '
        'FOR EACH ROW EXECUTE FUNCTION bump_updated_at()',
        target
    );
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION bump_updated_at() RETURNS trigger AS $$
BEGIN
    -- Only when something changed; a statement that sets updated_at wins.
    IF NEW IS DISTINCT FROM OLD AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
