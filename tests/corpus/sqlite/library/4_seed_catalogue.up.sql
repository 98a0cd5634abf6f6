INSERT INTO authors (name, born) VALUES ('Ursula K. Le Guin', 1929), ('Italo Calvino', 1923);
INSERT INTO books (author_id, title, isbn, copies)
    SELECT id, 'The Dispossessed', '978-0061054884', 3 FROM authors WHERE name LIKE 'Ursula%';
INSERT INTO books (author_id, title, isbn, copies)
    SELECT id, 'Invisible Cities', NULL, 2 FROM authors WHERE name = 'Italo Calvino';
INSERT INTO loans (book_id, borrower, due_on)
    SELECT id, 'sam', '2030-01-15' FROM books WHERE title = 'The Dispossessed';
INSERT INTO loans (book_id, borrower, due_on)
    SELECT id, 'kim', '2030-02-01' FROM books WHERE title = 'Invisible Cities';
