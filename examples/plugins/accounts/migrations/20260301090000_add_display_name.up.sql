-- New in accounts 1.2.0.
ALTER TABLE accounts_users ADD COLUMN display_name VARCHAR(100);
