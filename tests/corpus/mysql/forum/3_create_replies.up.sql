CREATE TABLE `replies` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `topic_id` INT UNSIGNED NOT NULL,
  `member_id` INT UNSIGNED NULL,
  `body` TEXT NOT NULL,
  `body_length` INT AS (CHAR_LENGTH(`body`)) VIRTUAL,
  `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (`id`),
  KEY `replies_topic_created` (`topic_id`, `created_at`),
  CONSTRAINT `replies_topic_fk` FOREIGN KEY (`topic_id`) REFERENCES `topics` (`id`) ON DELETE CASCADE,
  CONSTRAINT `replies_member_fk` FOREIGN KEY (`member_id`) REFERENCES `members` (`id`) ON DELETE SET NULL,
  CONSTRAINT `replies_body_not_blank` CHECK (CHAR_LENGTH(TRIM(`body`)) > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

/* Each reply bumps the member's karma by one. */
CREATE TRIGGER `replies_karma` AFTER INSERT ON `replies`
  FOR EACH ROW UPDATE `members` SET `karma` = `karma` + 1 WHERE `id` = NEW.`member_id`;
