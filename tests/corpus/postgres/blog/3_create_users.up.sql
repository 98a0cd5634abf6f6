CREATE TYPE user_role AS ENUM ('reader', 'author', 'editor', 'admin');

CREATE TABLE users (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email        citext      NOT NULL UNIQUE,
    display_name text        NOT NULL CHECK (length(display_name) BETWEEN 1 AND 80),
    role         user_role   NOT NULL DEFAULT 'reader',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

SELECT track_updated_at('users');

COMMENT ON TABLE users IS E'Everyone who can sign in.\nOne row per account; see `posts` for what they write.';
COMMENT ON COLUMN users.email IS 'citext: Ada@Example.org and ada@example.org are one address';
