CREATE TABLE books (
    id        INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors (id),
    title     TEXT    NOT NULL,
    isbn      TEXT,
    copies    INTEGER NOT NULL DEFAULT 1 CHECK (copies >= 0)
);
CREATE INDEX books_author ON books (author_id);
CREATE UNIQUE INDEX books_isbn ON books (isbn) WHERE isbn IS NOT NULL;
