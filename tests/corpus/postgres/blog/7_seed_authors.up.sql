-- Two accounts and a first post, so a fresh install is not empty.
INSERT INTO users (email, display_name, role) VALUES
    ('Ada@Example.org', E'Ada \'the Countess\' Lovelace', 'admin'),
    ('grace@example.org', 'Grace', 'author');

INSERT INTO posts (author_id, title, slug, body, tags, published_at)
SELECT id, 'Hello, migrations', 'Hello-Migrations', E'First line;\nsecond line', ARRAY['meta', 'news'], now()
FROM users WHERE email = 'ada@example.org';

INSERT INTO comments (post_id, author_id, body)
SELECT p.id, u.id, 'Welcome aboard'
FROM posts p, users u WHERE p.slug = 'Hello-Migrations' AND u.email = 'grace@example.org';
