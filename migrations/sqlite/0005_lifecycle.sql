-- Message lifecycle: replies, edits, deletes, reactions, and sends a retry cannot store twice.

-- the message this one answers (same conversation; NULL once that message is gone for good)
ALTER TABLE messages ADD COLUMN reply_to_id INTEGER REFERENCES messages (id) ON DELETE SET NULL;
-- when the content was last edited (NULL: never)
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
-- a tombstone: content '' and no reactions or mentions
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
-- the reactions as the message object carries them (a JSON array), rewritten from the
-- reactions table by each change, so that a history page reads them with the message
ALTER TABLE messages ADD COLUMN reactions TEXT;

-- one row per (message, emoji, user); id gives the order of first use
CREATE TABLE reactions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji      TEXT    NOT NULL,
    CONSTRAINT reactions_unique UNIQUE (message_id, emoji, user_id)
);

-- the client ids senders gave their messages; a send whose (sender, client id) is here and
-- younger than 7 days is a retry of that message. Older rows are pruned.
CREATE TABLE sent_client_ids (
    sender_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (sender_id, client_id)
);

CREATE INDEX sent_client_ids_created ON sent_client_ids (created_at);

-- replies of a message, for the key's ON DELETE SET NULL when messages go with their sender
CREATE INDEX messages_reply_to ON messages (reply_to_id) WHERE reply_to_id IS NOT NULL;
