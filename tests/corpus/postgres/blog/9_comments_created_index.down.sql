-- strata:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS comments_created;
