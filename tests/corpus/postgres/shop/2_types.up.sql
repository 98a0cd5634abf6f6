CREATE TYPE order_status AS ENUM ('cart', 'placed', 'paid', 'shipped', 'cancelled');
CREATE DOMAIN money_amount AS numeric(12, 2) CHECK (VALUE >= 0);
CREATE DOMAIN sku_code AS text CHECK (VALUE ~ '^[A-Z]{3}-[0-9]{4}$');
