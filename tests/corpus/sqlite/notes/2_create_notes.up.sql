CREATE TABLE notes (
    id          INTEGER PRIMARY KEY,
    notebook_id INTEGER NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    body        TEXT    NOT NULL DEFAULT '',
    pinned      INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
    archived_at INTEGER,
    updated_at  INTEGER NOT NULL DEFAULT (unixepoch())
);

-- Most screens list live notes only.
CREATE INDEX notes_live ON notes (notebook_id, updated_at DESC) WHERE archived_at IS NULL;
CREATE INDEX notes_pinned ON notes (notebook_id) WHERE pinned = 1;

CREATE TRIGGER notes_touch AFTER UPDATE OF body, pinned ON notes
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE notes SET updated_at = unixepoch() WHERE id = NEW.id;
END;
