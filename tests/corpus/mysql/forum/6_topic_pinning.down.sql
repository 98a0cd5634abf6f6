DROP INDEX `topics_pinned` ON `topics`;
ALTER TABLE `topics`
  DROP CONSTRAINT `topics_pin_until_needs_pin`,
  DROP COLUMN `pinned_until`,
  DROP COLUMN `pinned`;
