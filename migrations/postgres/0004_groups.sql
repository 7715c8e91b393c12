-- Group conversations: the same step as sqlite/0004_groups.sql in PostgreSQL's dialect (which
-- can drop NOT NULL in place, so nothing is rebuilt).

ALTER TABLE conversations
    ALTER COLUMN user_low DROP NOT NULL,
    ALTER COLUMN user_high DROP NOT NULL,
    -- 'direct' (a pair) or 'group'
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'direct',
    -- a group's title (1 to 100 characters); NULL for a pair
    ADD COLUMN title TEXT,
    ADD CONSTRAINT conversations_kind CHECK (
        (kind = 'direct' AND user_low IS NOT NULL AND user_high IS NOT NULL AND title IS NULL)
        OR (kind = 'group' AND user_low IS NULL AND user_high IS NULL AND title IS NOT NULL));

-- 'owner', 'admin' or 'member' (both people of a pair are members); when they joined (the owner
-- passes to the longest-standing admin, else member); whether they muted the conversation.
ALTER TABLE participants
    ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
        CONSTRAINT participants_role CHECK (role IN ('owner', 'admin', 'member')),
    ADD COLUMN joined_at BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN muted BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE participants p SET joined_at = c.created_at FROM conversations c
WHERE c.id = p.conversation_id;

-- A system message's event as JSON ({"kind", "user_id", "by", ...}); the ids of the members a
-- message mentions as a JSON array, NULL when none.
ALTER TABLE messages ADD COLUMN event TEXT, ADD COLUMN mentions TEXT;
