-- Sessions: one row per login, the refresh tokens it rotates through, and how it ended; each
-- user's "sessions valid after" time (tokens without a session id issued before it are refused);
-- deleted accounts kept as tombstones.
-- The same step as sqlite/0009_sessions.sql in PostgreSQL's dialect.

CREATE TABLE sessions (
    id           BIGSERIAL PRIMARY KEY,  -- the `sid` claim of its tokens
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    -- the live refresh token: its `jti` and `iat` (Unix seconds); a retry within the grace is
    -- answered with it again, minted byte for byte
    refresh_jti  TEXT   NOT NULL,
    issued_at    BIGINT NOT NULL,
    -- when the live refresh token expires: the session ends then unless rotated before
    expires_at   BIGINT NOT NULL,
    -- the refresh token the last rotation retired, and when
    previous_jti TEXT,
    rotated_at   BIGINT,
    -- NULL while the session lives; why it ended: logout, logout_all, password, reuse, deleted
    ended_at     BIGINT,
    end_reason   TEXT
);
CREATE INDEX sessions_user_live ON sessions (user_id) WHERE ended_at IS NULL;

ALTER TABLE users
    -- tokens without a session id issued (`iat`) before this are refused; 0: none
    ADD COLUMN sessions_valid_after BIGINT NOT NULL DEFAULT 0,
    -- set when the account was deleted: the row stays as a tombstone named `deleted user`, its
    -- old name held (in username_key) until --deleted-name-hold has passed
    ADD COLUMN deleted_at BIGINT;
