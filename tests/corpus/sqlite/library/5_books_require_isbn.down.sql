DROP VIEW overdue_loans;
DROP TRIGGER loans_take_copy;

CREATE TABLE old_books (
    id        INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors (id),
    title     TEXT    NOT NULL,
    isbn      TEXT,
    copies    INTEGER NOT NULL DEFAULT 1 CHECK (copies >= 0)
);
INSERT INTO old_books (id, author_id, title, isbn, copies)
    SELECT id, author_id, title, nullif(isbn, 'unknown'), copies FROM books;
DROP TABLE books;
ALTER TABLE old_books RENAME TO books;

CREATE INDEX books_author ON books (author_id);
CREATE UNIQUE INDEX books_isbn ON books (isbn) WHERE isbn IS NOT NULL;

CREATE TRIGGER loans_take_copy AFTER INSERT ON loans
BEGIN
    UPDATE books SET copies = copies - 1 WHERE id = NEW.book_id;
END;

CREATE VIEW overdue_loans AS
    SELECT l.id, b.title, l.borrower, l.due_on
    FROM loans AS l JOIN books AS b ON b.id = l.book_id
    WHERE NOT l.returned AND l.due_on < date('now');
