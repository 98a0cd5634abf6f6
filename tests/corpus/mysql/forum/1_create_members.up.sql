# Members of the forum. Names are shown as typed; e-mail domains are indexed
# for the moderation queue.
CREATE TABLE `members` (
  `id` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `handle` VARCHAR(40) NOT NULL,
  `email` VARCHAR(190) NOT NULL,
  `email_domain` VARCHAR(190) AS (SUBSTRING_INDEX(`email`, '@', -1)) STORED,
  `karma` INT NOT NULL DEFAULT 0,
  `joined_at` DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  UNIQUE KEY `members_handle` (`handle`),
  UNIQUE KEY `members_email` (`email`),
  KEY `members_email_domain` (`email_domain`),
  CONSTRAINT `members_handle_shape` CHECK (`handle` REGEXP '^[a-z0-9_]{3,40}$'),
  CONSTRAINT `members_karma_range` CHECK (`karma` BETWEEN -1000 AND 1000000)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
