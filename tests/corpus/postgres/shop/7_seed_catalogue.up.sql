INSERT INTO products (sku, name, price, stock, attributes) VALUES
    ('MUG-0001', 'Mug, "large"', 9.50, 40, '{"colour": "blue"}'),
    ('TEE-0042', E'T-shirt \\ logo', 19.00, 12, '{"colour": "red", "size": "M"}'),
    ('PEN-0007', 'Pen; refillable', 2.25, 0, '{}');

INSERT INTO orders (customer, status, placed_at) VALUES ('ada', 'paid', now());

INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT o.id, p.id, 2, p.price FROM orders o, products p
WHERE o.customer = 'ada' AND p.sku IN ('MUG-0001', 'TEE-0042');

SELECT * FROM reserve_stock((SELECT id FROM orders WHERE customer = 'ada'));
