-- Booking goes through procedures so the balance and the ledger never disagree.
DELIMITER $$

CREATE PROCEDURE `book_entry`(IN p_account INT UNSIGNED, IN p_amount BIGINT, IN p_memo VARCHAR(255))
BEGIN
  DECLARE v_exists INT DEFAULT 0;
  SELECT COUNT(*) INTO v_exists FROM `accounts` WHERE `id` = p_account;
  IF v_exists = 0 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no such account; nothing booked';
  END IF;
  INSERT INTO `ledger_entries` (`account_id`, `amount_cents`, `memo`) VALUES (p_account, p_amount, p_memo);
END$$

CREATE FUNCTION `format_cents`(p_cents BIGINT) RETURNS VARCHAR(32) DETERMINISTIC
BEGIN
  -- 1234 -> '12.34'; a ';' inside a string is not the end: 'a;b'
  RETURN CONCAT(IF(p_cents < 0, '-', ''), ABS(p_cents) DIV 100, '.', LPAD(ABS(p_cents) MOD 100, 2, '0'));
END$$

DELIMITER ;
