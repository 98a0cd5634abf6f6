-- strata:no-transaction
DROP INDEX CONCURRENTLY products_lower_name;
