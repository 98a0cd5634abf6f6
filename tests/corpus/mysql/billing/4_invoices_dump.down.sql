DROP TABLE `invoices`;
DELETE FROM `accounts` WHERE `id` IN (1, 2);
