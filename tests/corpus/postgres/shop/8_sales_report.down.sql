DROP MATERIALIZED VIEW product_sales;
DROP VIEW open_orders;
