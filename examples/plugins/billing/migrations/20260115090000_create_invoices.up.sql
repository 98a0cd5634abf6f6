-- Invoices belong to users of the accounts plugin: its table must exist first.
-- strata:depends-on accounts@20260110090000
CREATE TABLE billing_invoices (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES accounts_users (id),
    amount_cents INTEGER NOT NULL
);

CREATE INDEX billing_invoices_user_id ON billing_invoices (user_id);
