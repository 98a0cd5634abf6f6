CREATE VIEW `topic_summary` AS
  SELECT t.`id`, t.`title`, m.`handle` AS `author`, COUNT(r.`id`) AS `replies`,
         MAX(r.`created_at`) AS `last_reply_at`
  FROM `topics` t
  JOIN `members` m ON m.`id` = t.`member_id`
  LEFT JOIN `replies` r ON r.`topic_id` = t.`id`
  GROUP BY t.`id`, t.`title`, m.`handle`;
