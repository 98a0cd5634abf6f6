DROP FUNCTION IF EXISTS track_updated_at(regclass);
DROP FUNCTION IF EXISTS bump_updated_at();
