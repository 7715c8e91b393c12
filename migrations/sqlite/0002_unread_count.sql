-- Each participant's count of messages from others after their read marker. The message writer
-- adds to it in the transaction that stores the messages and chat.read subtracts what it marks
-- read, so the conversation list reads one number instead of counting rows.

ALTER TABLE participants ADD COLUMN unread_count INTEGER NOT NULL DEFAULT 0;

UPDATE participants SET unread_count = (
    SELECT COUNT(*) FROM messages m
    WHERE m.conversation_id = participants.conversation_id
      AND m.id > participants.last_read_id
      AND m.sender_id <> participants.user_id
);
