DELETE FROM audit_log WHERE subject IN ('order', 'customer:ada');
DELETE FROM orders WHERE customer = 'ada';
DELETE FROM products WHERE sku IN ('MUG-0001', 'TEE-0042', 'PEN-0007');
