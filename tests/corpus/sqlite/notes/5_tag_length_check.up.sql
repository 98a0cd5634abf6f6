-- A CHECK cannot be added with ALTER TABLE: rebuild note_tags (nothing
-- references it) in the documented order and recreate its triggers.
CREATE TABLE `note_tags_new` (
    `note_id` INTEGER NOT NULL REFERENCES notes (id) ON DELETE CASCADE,
    `tag`     TEXT    NOT NULL REFERENCES [tags] ([name]) ON UPDATE CASCADE CHECK (length(`tag`) <= 30),
    PRIMARY KEY (`note_id`, `tag`)
) WITHOUT ROWID;
INSERT INTO `note_tags_new` (`note_id`, `tag`) SELECT `note_id`, `tag` FROM `note_tags`;
DROP TABLE `note_tags`;
ALTER TABLE `note_tags_new` RENAME TO `note_tags`;

CREATE TRIGGER note_tags_count_up AFTER INSERT ON note_tags
BEGIN
    INSERT INTO tags (name, uses) VALUES (NEW.tag, 1)
        ON CONFLICT (name) DO UPDATE SET uses = uses + 1;
END;

CREATE TRIGGER note_tags_count_down AFTER DELETE ON note_tags
BEGIN
    UPDATE tags SET uses = uses - 1 WHERE name = OLD.tag;
END;
