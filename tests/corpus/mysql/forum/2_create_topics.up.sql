CREATE TABLE `topics` (
  `id` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `member_id` INT UNSIGNED NOT NULL,
  `title` VARCHAR(200) NOT NULL,
  `slug` VARCHAR(220) NOT NULL DEFAULT '',
  `state` ENUM('open', 'locked', 'archived') NOT NULL DEFAULT 'open',
  `banner` VARCHAR(100) NOT NULL DEFAULT 'it\'s new',  # a backslash-escaped quote
  `created_at` DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  KEY `topics_member` (`member_id`),
  KEY `topics_state_created` (`state`, `created_at`),
  CONSTRAINT `topics_member_fk` FOREIGN KEY (`member_id`) REFERENCES `members` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A one-statement trigger needs no DELIMITER.
CREATE TRIGGER `topics_slug` BEFORE INSERT ON `topics`
  FOR EACH ROW SET NEW.`slug` = LOWER(REPLACE(TRIM(NEW.`title`), ' ', '-'));
