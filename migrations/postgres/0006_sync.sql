-- Sync: every frame pushed to users because something happened is an event with a seq, stored
-- in the transaction of what caused it, so that a client can ask for what it missed.
-- The same step as sqlite/0006_sync.sql in PostgreSQL's dialect.

CREATE TABLE events (
    -- the seq of the pushed frame: one sequence for everyone, only growing
    seq             BIGSERIAL PRIMARY KEY,
    -- for every member of this conversation (from when they joined) when user_id is NULL;
    -- else the conversation the event is about, if any
    conversation_id BIGINT REFERENCES conversations (id) ON DELETE CASCADE,
    -- for this user alone
    user_id         BIGINT REFERENCES users (id) ON DELETE CASCADE,
    -- message, updated (rebuilt from the message as it is), conversation (rebuilt from the
    -- conversation as it is), or a stored frame: read, status, left
    kind            TEXT   NOT NULL,
    message_id      BIGINT REFERENCES messages (id) ON DELETE CASCADE,
    -- the frame's JSON without seq, for the kinds that are not rebuilt
    frame           TEXT,
    created_at      BIGINT NOT NULL
);

CREATE INDEX events_user ON events (user_id, seq) WHERE user_id IS NOT NULL;
CREATE INDEX events_conversation ON events (conversation_id, seq) WHERE user_id IS NULL;
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_message ON events (message_id) WHERE message_id IS NOT NULL;

-- the highest seq ever pruned: a sync from before it cannot be answered
CREATE TABLE sync_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through BIGINT NOT NULL
);
INSERT INTO sync_state (id, pruned_through) VALUES (1, 0);
