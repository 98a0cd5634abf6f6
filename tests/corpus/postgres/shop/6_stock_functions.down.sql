DROP FUNCTION order_total(integer);
DROP FUNCTION reserve_stock(integer);
