-- Author names become unique and birth years plausible. `books` references
-- `authors`, so the same rebuild needs foreign keys off.
CREATE TABLE new_authors (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    born INTEGER CHECK (born IS NULL OR born BETWEEN 1000 AND 2100)
);
INSERT INTO new_authors (id, name, born) SELECT id, name, born FROM authors;
DROP TABLE authors;
ALTER TABLE new_authors RENAME TO authors;
PRAGMA foreign_key_check;
