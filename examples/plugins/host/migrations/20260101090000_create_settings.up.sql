-- The host application's own table.
CREATE TABLE app_settings (
    name VARCHAR(100) PRIMARY KEY,
    content VARCHAR(255) NOT NULL
);
