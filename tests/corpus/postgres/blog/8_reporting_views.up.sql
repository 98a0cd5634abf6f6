CREATE VIEW published_posts AS
    SELECT p.id, p.title, p.slug, u.display_name AS author, p.published_at
    FROM posts p JOIN users u ON u.id = p.author_id
    WHERE p.published_at IS NOT NULL;

CREATE MATERIALIZED VIEW author_activity AS
    SELECT u.id AS author_id, count(DISTINCT p.id) AS posts, count(c.id) AS comments
    FROM users u
    LEFT JOIN posts p ON p.author_id = u.id
    LEFT JOIN comments c ON c.post_id = p.id
    GROUP BY u.id
WITH DATA;

-- REFRESH ... CONCURRENTLY needs a unique index.
CREATE UNIQUE INDEX author_activity_author ON author_activity (author_id);

COMMENT ON MATERIALIZED VIEW author_activity IS 'refreshed nightly';
