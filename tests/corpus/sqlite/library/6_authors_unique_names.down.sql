CREATE TABLE old_authors (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    born INTEGER
);
INSERT INTO old_authors (id, name, born) SELECT id, name, born FROM authors;
DROP TABLE authors;
ALTER TABLE old_authors RENAME TO authors;
