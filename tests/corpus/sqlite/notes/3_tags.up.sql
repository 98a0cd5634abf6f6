-- Tags are looked up by name only: no rowid needed.
CREATE TABLE [tags] (
    [name]  TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
    [uses]  INTEGER NOT NULL DEFAULT 0 CHECK ([uses] >= 0)
) WITHOUT ROWID;

CREATE TABLE `note_tags` (
    `note_id` INTEGER NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
    `tag`     TEXT    NOT NULL REFERENCES [tags] ([name]) ON UPDATE CASCADE,
    PRIMARY KEY (`note_id`, `tag`)
) WITHOUT ROWID;

CREATE TRIGGER note_tags_count_up AFTER INSERT ON note_tags
BEGIN
    INSERT INTO tags (name, uses) VALUES (NEW.tag, 1)
        ON CONFLICT (name) DO UPDATE SET uses = uses + 1;
END;

CREATE TRIGGER note_tags_count_down AFTER DELETE ON note_tags
BEGIN
    UPDATE tags SET uses = uses - 1 WHERE name = OLD.tag;
END;
