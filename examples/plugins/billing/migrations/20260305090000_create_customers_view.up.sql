-- Uses `display_name`, added by accounts 1.2.0 (hence the set's requirement `accounts ^1.2`).
-- strata:depends-on accounts@20260301090000
CREATE VIEW billing_customers AS
SELECT u.id AS user_id,
       u.display_name,
       COUNT(i.id) AS invoices,
       COALESCE(SUM(i.amount_cents), 0) AS total_cents
FROM accounts_users u
LEFT JOIN billing_invoices i ON i.user_id = u.id
GROUP BY u.id, u.display_name;
