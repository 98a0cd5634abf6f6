INSERT INTO notes (body) VALUES ('welcome');
