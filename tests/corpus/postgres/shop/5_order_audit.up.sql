-- Every new order leaves two audit lines: one for the order, one for the customer's timeline.
CREATE TABLE audit_log (
    id       bigserial PRIMARY KEY,
    subject  text        NOT NULL,
    message  text        NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);

CREATE RULE orders_audit AS ON INSERT TO orders DO ALSO (
    INSERT INTO audit_log (subject, message) VALUES ('order', 'created for ' || NEW.customer);
    INSERT INTO audit_log (subject, message) VALUES ('customer:' || NEW.customer, 'placed an order')
);
