DROP TABLE billing_invoices;
