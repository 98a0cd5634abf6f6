DROP RULE orders_audit ON orders;
DROP TABLE audit_log;
