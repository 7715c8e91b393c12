-- Accounts, one-to-one conversations, their participants' markers, and messages.
-- The same step as sqlite/0001_init.sql in PostgreSQL's dialect.
-- Times are Unix milliseconds (UTC); ids only grow.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT   NOT NULL,
    -- lower-cased username: uniqueness and search are case-insensitive; byte order ("C"),
    -- as SQLite sorts, so both engines list names alike
    username_key  TEXT   COLLATE "C" NOT NULL,
    password_hash TEXT   NOT NULL,  -- argon2 PHC string
    created_at    BIGINT NOT NULL,
    CONSTRAINT users_username_key_unique UNIQUE (username_key)
);


CREATE TABLE conversations (
    id               BIGSERIAL PRIMARY KEY,
    -- the pair, smaller id first, so that a pair has exactly one conversation
    user_low         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_high        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at       BIGINT NOT NULL,
    last_message_id  BIGINT,
    -- created_at, then the time of the newest message: the list's sort key
    last_activity_at BIGINT NOT NULL,
    CONSTRAINT conversations_pair_unique UNIQUE (user_low, user_high),
    CONSTRAINT conversations_pair_ordered CHECK (user_low < user_high)
);

CREATE INDEX conversations_user_high ON conversations (user_high);

CREATE TABLE participants (
    conversation_id   BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id           BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- newest message id this participant has read / received (0: none)
    last_read_id      BIGINT NOT NULL DEFAULT 0,
    last_delivered_id BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);

CREATE INDEX participants_user ON participants (user_id, conversation_id);

CREATE TABLE messages (
    id              BIGSERIAL PRIMARY KEY,
    conversation_id BIGINT  NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    sender_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content         TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    is_system       BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE INDEX messages_conversation ON messages (conversation_id, id);
