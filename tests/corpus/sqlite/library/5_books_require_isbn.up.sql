-- Every book gets an ISBN (a placeholder where it is unknown) and the column
-- becomes NOT NULL. SQLite cannot change a column, so the table is rebuilt
-- the documented way: new table, copy, drop, rename, then the indexes,
-- triggers and views that used the old one. `loans` references `books`:
-- foreign keys must be off while this runs, or dropping `books` would
-- delete every loan (ON DELETE CASCADE).
DROP VIEW overdue_loans;
DROP TRIGGER loans_take_copy;

CREATE TABLE new_books (
    id        INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors (id),
    title     TEXT    NOT NULL,
    isbn      TEXT    NOT NULL CHECK (isbn = 'unknown' OR length(replace(isbn, '-', '')) = 13),
    copies    INTEGER NOT NULL DEFAULT 1 CHECK (copies >= 0)
);
INSERT INTO new_books (id, author_id, title, isbn, copies)
    SELECT id, author_id, title, coalesce(isbn, 'unknown'), copies FROM books;
DROP TABLE books;
ALTER TABLE new_books RENAME TO books;

CREATE INDEX books_author ON books (author_id);
CREATE UNIQUE INDEX books_isbn ON books (isbn) WHERE isbn <> 'unknown';

CREATE TRIGGER loans_take_copy AFTER INSERT ON loans
BEGIN
    UPDATE books SET copies = copies - 1 WHERE id = NEW.book_id;
END;

CREATE VIEW overdue_loans AS
    SELECT l.id, b.title, l.borrower, l.due_on
    FROM loans AS l JOIN books AS b ON b.id = l.book_id
    WHERE NOT l.returned AND l.due_on < date('now');

PRAGMA foreign_key_check;
