DROP TRIGGER posts_search_refresh ON posts;
DROP FUNCTION posts_search_refresh();
DROP INDEX posts_search;
ALTER TABLE posts DROP COLUMN search;
