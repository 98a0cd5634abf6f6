-- Safe to run twice: the column is only added where it is missing.
DELIMITER //
BEGIN NOT ATOMIC
  IF NOT EXISTS (
    SELECT 1 FROM information_schema.COLUMNS
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'invoices' AND COLUMN_NAME = 'due_on'
  ) THEN
    ALTER TABLE `invoices` ADD COLUMN `due_on` DATE NULL AFTER `issued_on`;
    UPDATE `invoices` SET `due_on` = `issued_on` + INTERVAL 30 DAY;
  END IF;
END//
DELIMITER ;

ALTER TABLE `invoices` ADD CONSTRAINT `invoices_due_after_issue` CHECK (`due_on` IS NULL OR `due_on` >= `issued_on`);
