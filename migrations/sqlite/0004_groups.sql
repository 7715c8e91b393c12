-- Group conversations: a conversation is direct (a pair, as before) or a group (a title and any
-- number of participants), each participant has a role, the time they joined and whether they
-- muted it, and a message may record a membership event and the members it mentions.
--
-- SQLite cannot drop NOT NULL from the pair's columns, so the conversations table is rebuilt
-- (SQLite's documented procedure: new table, copy, drop, rename). The server applies SQLite
-- migrations on a connection with foreign keys off, so dropping the old table cascades nothing,
-- then checks every key (PRAGMA foreign_key_check) before it opens the database for use.

CREATE TABLE conversations_rebuilt (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    -- the pair, smaller id first, so that a pair has exactly one conversation; NULL for a group
    user_low         INTEGER REFERENCES users (id) ON DELETE CASCADE,
    user_high        INTEGER REFERENCES users (id) ON DELETE CASCADE,
    created_at       INTEGER NOT NULL,
    last_message_id  INTEGER,
    -- created_at, then the time of the newest message: the list's sort key
    last_activity_at INTEGER NOT NULL,
    -- 'direct' (a pair) or 'group'
    kind             TEXT    NOT NULL DEFAULT 'direct',
    -- a group's title (1 to 100 characters); NULL for a pair
    title            TEXT,
    CONSTRAINT conversations_pair_unique UNIQUE (user_low, user_high),
    CONSTRAINT conversations_pair_ordered CHECK (user_low < user_high),
    CONSTRAINT conversations_kind CHECK (
        (kind = 'direct' AND user_low IS NOT NULL AND user_high IS NOT NULL AND title IS NULL)
        OR (kind = 'group' AND user_low IS NULL AND user_high IS NULL AND title IS NOT NULL))
);

INSERT INTO conversations_rebuilt (id, user_low, user_high, created_at, last_message_id,
                                   last_activity_at)
SELECT id, user_low, user_high, created_at, last_message_id, last_activity_at FROM conversations;

-- Ids keep growing past those of conversations deleted before the rebuild.
INSERT INTO sqlite_sequence (name, seq)
SELECT 'conversations_rebuilt', 0
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'conversations_rebuilt');
UPDATE sqlite_sequence
SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'conversations'), 0))
WHERE name = 'conversations_rebuilt';

DROP TABLE conversations;
ALTER TABLE conversations_rebuilt RENAME TO conversations;
CREATE INDEX conversations_user_high ON conversations (user_high);

-- 'owner', 'admin' or 'member' (both people of a pair are members); when they joined (the owner
-- passes to the longest-standing admin, else member); whether they muted the conversation.
ALTER TABLE participants ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CONSTRAINT participants_role CHECK (role IN ('owner', 'admin', 'member'));
ALTER TABLE participants ADD COLUMN joined_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE participants ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;
UPDATE participants SET joined_at = (
    SELECT created_at FROM conversations WHERE conversations.id = participants.conversation_id);

-- A system message's event as JSON ({"kind", "user_id", "by", ...}); the ids of the members a
-- message mentions as a JSON array, NULL when none.
ALTER TABLE messages ADD COLUMN event TEXT;
ALTER TABLE messages ADD COLUMN mentions TEXT;
