-- Every table of the plugin starts with `accounts_`, so plugins never collide.
CREATE TABLE accounts_users (
    id INTEGER PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE
);
