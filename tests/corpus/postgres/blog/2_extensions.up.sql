-- gen_random_uuid() for keys, case-insensitive e-mail addresses.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS citext;
