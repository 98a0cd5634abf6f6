CREATE TABLE `accounts` (
  `id` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `name` VARCHAR(120) NOT NULL,
  `currency` CHAR(3) NOT NULL DEFAULT 'EUR',
  `balance_cents` BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  UNIQUE KEY `accounts_name` (`name`),
  CONSTRAINT `accounts_currency_upper` CHECK (`currency` = UPPER(`currency`))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE `ledger_entries` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `account_id` INT UNSIGNED NOT NULL,
  `amount_cents` BIGINT NOT NULL,
  `memo` VARCHAR(255) NOT NULL DEFAULT '',
  `booked_at` DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  KEY `ledger_account_booked` (`account_id`, `booked_at`),
  CONSTRAINT `ledger_account_fk` FOREIGN KEY (`account_id`) REFERENCES `accounts` (`id`),
  CONSTRAINT `ledger_amount_nonzero` CHECK (`amount_cents` <> 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
