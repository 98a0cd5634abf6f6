INSERT INTO notebooks (id, title, colour) VALUES (1, 'Inbox', 'blue'), (2, 'Ideas; later', 'green');
INSERT INTO notes (notebook_id, body, pinned) VALUES
    (1, 'Buy milk', 0),
    (1, 'It''s a "quoted" note; with a semicolon', 1),
    (2, 'Write the corpus', 0);
INSERT INTO tags (name) VALUES ('home');
INSERT INTO note_tags (note_id, tag) SELECT id, 'home' FROM notes WHERE body = 'Buy milk';
INSERT INTO note_tags (note_id, tag) SELECT id, 'Work' FROM notes WHERE notebook_id = 2;
