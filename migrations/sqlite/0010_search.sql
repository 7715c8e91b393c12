-- Search (server/src/search.rs). Messages: `search_text` holds a message's words as the server
-- cuts them (folded, accents removed, CJK characters apart), joined by spaces; NULL for system
-- and deleted messages, and for messages written before this step until the server fills them
-- in at start. An FTS5 table over it (external content: the text lives only in `messages`),
-- kept in step by triggers. Users: a trigram index over `username_key`, for substring search.

ALTER TABLE messages ADD COLUMN search_text TEXT;

CREATE VIRTUAL TABLE message_search USING fts5(
    search_text, content = 'messages', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2');

CREATE TRIGGER message_search_insert AFTER INSERT ON messages
WHEN new.search_text IS NOT NULL BEGIN
    INSERT INTO message_search (rowid, search_text) VALUES (new.id, new.search_text);
END;

CREATE TRIGGER message_search_delete AFTER DELETE ON messages
WHEN old.search_text IS NOT NULL BEGIN
    INSERT INTO message_search (message_search, rowid, search_text)
    VALUES ('delete', old.id, old.search_text);
END;

CREATE TRIGGER message_search_update AFTER UPDATE OF search_text ON messages BEGIN
    INSERT INTO message_search (message_search, rowid, search_text)
    SELECT 'delete', old.id, old.search_text WHERE old.search_text IS NOT NULL;
    INSERT INTO message_search (rowid, search_text)
    SELECT new.id, new.search_text WHERE new.search_text IS NOT NULL;
END;

CREATE VIRTUAL TABLE user_search USING fts5(
    username_key, content = 'users', content_rowid = 'id', tokenize = 'trigram');

CREATE TRIGGER user_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_search (rowid, username_key) VALUES (new.id, new.username_key);
END;

CREATE TRIGGER user_search_delete AFTER DELETE ON users BEGIN
    INSERT INTO user_search (user_search, rowid, username_key)
    VALUES ('delete', old.id, old.username_key);
END;

CREATE TRIGGER user_search_update AFTER UPDATE OF username_key ON users BEGIN
    INSERT INTO user_search (user_search, rowid, username_key)
    VALUES ('delete', old.id, old.username_key);
    INSERT INTO user_search (rowid, username_key) VALUES (new.id, new.username_key);
END;

INSERT INTO user_search (user_search) VALUES ('rebuild');
