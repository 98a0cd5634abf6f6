CREATE VIEW notebook_overview AS
    SELECT nb.title AS notebook, count(n.id) AS notes, sum(n.pinned) AS pinned
    FROM notebooks AS nb LEFT JOIN notes AS n ON n.notebook_id = nb.id AND n.archived_at IS NULL
    GROUP BY nb.id;
