DELETE FROM loans;
DELETE FROM books;
DELETE FROM authors;
DELETE FROM sqlite_sequence WHERE name = 'authors';
