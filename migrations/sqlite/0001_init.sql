-- Accounts, one-to-one conversations, their participants' markers, and messages.
-- Times are Unix milliseconds (UTC); ids only grow (AUTOINCREMENT never reuses one).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    -- lower-cased username: uniqueness and search are case-insensitive
    username_key  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,  -- argon2 PHC string
    created_at    INTEGER NOT NULL,
    CONSTRAINT users_username_key_unique UNIQUE (username_key)
);

CREATE TABLE conversations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    -- the pair, smaller id first, so that a pair has exactly one conversation
    user_low         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_high        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at       INTEGER NOT NULL,
    last_message_id  INTEGER,
    -- created_at, then the time of the newest message: the list's sort key
    last_activity_at INTEGER NOT NULL,
    CONSTRAINT conversations_pair_unique UNIQUE (user_low, user_high),
    CONSTRAINT conversations_pair_ordered CHECK (user_low < user_high)
);

CREATE INDEX conversations_user_high ON conversations (user_high);

CREATE TABLE participants (
    conversation_id   INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- newest message id this participant has read / received (0: none)
    last_read_id      INTEGER NOT NULL DEFAULT 0,
    last_delivered_id INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);

CREATE INDEX participants_user ON participants (user_id, conversation_id);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    sender_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    is_system       INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX messages_conversation ON messages (conversation_id, id);
