ALTER TABLE `topics`
  ADD COLUMN `pinned` TINYINT(1) NOT NULL DEFAULT 0 AFTER `state`,
  ADD COLUMN `pinned_until` DATE NULL AFTER `pinned`,
  ADD CONSTRAINT `topics_pin_until_needs_pin` CHECK (`pinned_until` IS NULL OR `pinned` = 1);

CREATE INDEX `topics_pinned` ON `topics` (`pinned`, `pinned_until`);
UPDATE `topics` SET `pinned` = 1 WHERE `slug` = 'welcome-aboard';
