-- Notebooks hold notes; STRICT makes SQLite check the declared types.
CREATE TABLE notebooks (
    id         INTEGER PRIMARY KEY,
    title      TEXT    NOT NULL CHECK (length(trim(title)) > 0),
    colour     TEXT    NOT NULL DEFAULT 'grey' CHECK (colour IN ('grey', 'red', 'green', 'blue')),
    created_at INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT;

CREATE UNIQUE INDEX notebooks_title ON notebooks (title COLLATE NOCASE);
