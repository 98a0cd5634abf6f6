DELETE FROM note_tags;
DELETE FROM tags;
DELETE FROM notes;
DELETE FROM notebooks WHERE id IN (1, 2);
