CREATE TABLE "loans" (
    "id"       INTEGER PRIMARY KEY,
    "book_id"  INTEGER NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    "borrower" TEXT    NOT NULL,
    "due_on"   TEXT    NOT NULL CHECK (date("due_on") IS NOT NULL),
    "returned" INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX loans_open ON loans (due_on) WHERE NOT returned;

-- A copy on loan is not on the shelf.
CREATE TRIGGER loans_take_copy AFTER INSERT ON loans
BEGIN
    UPDATE books SET copies = copies - 1 WHERE id = NEW.book_id;
END;

CREATE VIEW overdue_loans AS
    SELECT l.id, b.title, l.borrower, l.due_on
    FROM loans AS l JOIN books AS b ON b.id = l.book_id
    WHERE NOT l.returned AND l.due_on < date('now');
