DROP VIEW `account_statement`;
DELETE FROM `invoices` WHERE `number` = 'INV-0003';
DELETE FROM `ledger_entries` WHERE `account_id` IN (1, 2);
