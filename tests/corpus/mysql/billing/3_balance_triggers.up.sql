# Keep accounts.balance_cents equal to the sum of its ledger.
DELIMITER //
CREATE TRIGGER `ledger_after_insert` AFTER INSERT ON `ledger_entries`
FOR EACH ROW
BEGIN
  UPDATE `accounts` SET `balance_cents` = `balance_cents` + NEW.`amount_cents`
  WHERE `id` = NEW.`account_id`;
END//

CREATE TRIGGER `ledger_before_delete` BEFORE DELETE ON `ledger_entries`
FOR EACH ROW
BEGIN
  UPDATE `accounts` SET `balance_cents` = `balance_cents` - OLD.`amount_cents`
  WHERE `id` = OLD.`account_id`;
END//
DELIMITER ;
