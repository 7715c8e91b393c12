-- Usernames compared as Unicode says (server/src/names.rs): by the folded name (NFKC with full
-- case folding; login looks names up by it) and by the folded confusable skeleton (UTS #39). A new
-- name is refused when either equals an existing account's.
-- SQL cannot compute them: they are NULL until the server fills them in at start, for every row
-- that has none (and then reports existing names that collide; those keep working). To compute
-- them again after a change of the Unicode data, set them to NULL.
-- Not unique indexes, for those collisions: registration keeps new names apart itself, checking
-- both keys in the statement that inserts, one writer at a time (see store/users.rs).
-- username_key (lower case, unique) stays as it was: search still matches on it.
-- The same step as sqlite/0008_usernames.sql in PostgreSQL's dialect.

ALTER TABLE users
    ADD COLUMN username_fold TEXT,
    ADD COLUMN username_skeleton TEXT;
CREATE INDEX users_username_fold ON users (username_fold);
CREATE INDEX users_username_skeleton ON users (username_skeleton);
