DROP TRIGGER `ledger_before_delete`;
DROP TRIGGER `ledger_after_insert`;
