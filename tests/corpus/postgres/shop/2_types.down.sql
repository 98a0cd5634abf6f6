DROP DOMAIN sku_code;
DROP DOMAIN money_amount;
DROP TYPE order_status;
