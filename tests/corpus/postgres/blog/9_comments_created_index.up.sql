-- strata:no-transaction
-- Built without locking writes out; CONCURRENTLY cannot run in a transaction.
CREATE INDEX CONCURRENTLY IF NOT EXISTS comments_created ON comments (created_at DESC);
