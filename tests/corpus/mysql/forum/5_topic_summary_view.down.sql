DROP VIEW `topic_summary`;
