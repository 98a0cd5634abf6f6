ALTER TABLE `invoices` DROP CONSTRAINT `invoices_due_after_issue`;
ALTER TABLE `invoices` DROP COLUMN `due_on`;
