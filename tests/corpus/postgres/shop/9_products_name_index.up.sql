-- strata:no-transaction
CREATE UNIQUE INDEX CONCURRENTLY products_lower_name ON products (lower(name)) WHERE NOT retired;
