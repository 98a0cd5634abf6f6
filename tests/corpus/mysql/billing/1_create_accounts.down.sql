DROP TABLE `ledger_entries`;
DROP TABLE `accounts`;
