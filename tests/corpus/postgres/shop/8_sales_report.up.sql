CREATE VIEW open_orders AS
    SELECT o.number, o.customer, o.status, order_total(o.id) AS total
    FROM orders o
    WHERE o.status NOT IN ('shipped', 'cancelled');

CREATE MATERIALIZED VIEW product_sales AS
    SELECT p.sku, p.name, coalesce(sum(oi.quantity), 0)::integer AS sold
    FROM products p LEFT JOIN order_items oi ON oi.product_id = p.id
    GROUP BY p.sku, p.name
WITH NO DATA;

CREATE UNIQUE INDEX product_sales_sku ON product_sales (sku);
REFRESH MATERIALIZED VIEW product_sales;
