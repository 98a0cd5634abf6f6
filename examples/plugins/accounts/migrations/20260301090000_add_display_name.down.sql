ALTER TABLE accounts_users DROP COLUMN display_name;
