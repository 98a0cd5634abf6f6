-- Full-text search over posts, kept current by a trigger.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'posts' AND column_name = 'search'
    ) THEN
        ALTER TABLE posts ADD COLUMN search tsvector;
    END IF;
END
$$;

CREATE FUNCTION posts_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $refresh$
DECLARE
    -- Not the end of the body: $$ and ; are plain text inside this tag.
    separator constant text := ' ; ';
BEGIN
    NEW.search := to_tsvector('simple', coalesce(NEW.title, '') || separator || coalesce(NEW.body, ''));
    RETURN NEW;
END;
$refresh$;

CREATE TRIGGER posts_search_refresh BEFORE INSERT OR UPDATE OF title, body ON posts
    FOR EACH ROW EXECUTE FUNCTION posts_search_refresh();

CREATE INDEX posts_search ON posts USING gin (search);
