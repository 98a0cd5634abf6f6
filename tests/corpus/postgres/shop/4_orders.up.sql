CREATE TABLE orders (
    id         serial PRIMARY KEY,
    number     uuid         NOT NULL DEFAULT uuid_generate_v4() UNIQUE,
    customer   text         NOT NULL,
    status     order_status NOT NULL DEFAULT 'cart',
    placed_at  timestamptz,
    CONSTRAINT orders_placed_has_time CHECK (status = 'cart' OR placed_at IS NOT NULL)
);

CREATE TABLE order_items (
    order_id   integer      NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id integer      NOT NULL REFERENCES products (id),
    quantity   integer      NOT NULL CHECK (quantity > 0),
    unit_price money_amount NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

CREATE INDEX order_items_product ON order_items (product_id);
CREATE INDEX orders_open ON orders (customer) WHERE status IN ('cart', 'placed');
