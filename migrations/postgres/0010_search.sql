-- The same step as sqlite/0010_search.sql in PostgreSQL's dialect. Messages: `search_text` (the
-- words as the server cuts them) and a `tsvector` of it in the `simple` configuration (it only
-- splits at the spaces: the server already folded case and accents), GIN-indexed. Users: a
-- trigram index (pg_trgm, installed in `public` once per database, under a lock so that two
-- servers or tests migrating at once do not both create it) over `username_key`.

ALTER TABLE messages ADD COLUMN search_text TEXT;
ALTER TABLE messages ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', COALESCE(search_text, ''))) STORED;
CREATE INDEX messages_search ON messages USING GIN (search_vector);

SELECT pg_advisory_xact_lock(7400134);
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
CREATE INDEX users_username_trigrams ON users USING GIN (username_key public.gin_trgm_ops);
