DROP VIEW billing_customers;
