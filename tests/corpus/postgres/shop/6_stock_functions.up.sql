/* Stock is reserved when an order is paid.
 * /* Nested: PostgreSQL lets block comments nest, so this line is still a comment; */
 * and so is this one. */
CREATE OR REPLACE FUNCTION reserve_stock(p_order integer)
RETURNS TABLE (product_id integer, left_in_stock integer)
LANGUAGE plpgsql AS $body$
DECLARE
    item record;
BEGIN
    FOR item IN SELECT oi.product_id, oi.quantity FROM order_items oi WHERE oi.order_id = p_order LOOP
        UPDATE products p SET stock = p.stock - item.quantity WHERE p.id = item.product_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'order %: product % is gone; nothing reserved', p_order, item.product_id;
        END IF;
    END LOOP;
    RETURN QUERY
        SELECT p.id, p.stock FROM products p
        JOIN order_items oi ON oi.product_id = p.id
        WHERE oi.order_id = p_order;
END;
$body$;

CREATE FUNCTION order_total(p_order integer) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(quantity * unit_price), 0) FROM order_items WHERE order_id = p_order;
$$;

DO $do$
BEGIN
    RAISE NOTICE 'stock functions installed; see %', 'reserve_stock(integer)';
END
$do$;
