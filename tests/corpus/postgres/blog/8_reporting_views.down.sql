DROP MATERIALIZED VIEW author_activity;
DROP VIEW published_posts;
