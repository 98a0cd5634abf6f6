CALL `book_entry`(1, 12000, 'invoice INV-0001');
CALL `book_entry`(2, 450, 'invoice INV-0002');
CALL `book_entry`(2, -150, 'refund; partial');
INSERT INTO `invoices` (`account_id`, `number`, `total_cents`, `issued_on`) VALUES (1, '3', 990, '2024-03-15');

CREATE VIEW `account_statement` AS
  SELECT a.`name`, `format_cents`(a.`balance_cents`) AS `balance`, COUNT(i.`id`) AS `invoices`
  FROM `accounts` a LEFT JOIN `invoices` i ON i.`account_id` = a.`id`
  GROUP BY a.`id`, a.`name`, a.`balance_cents`;
