-- Presence: who is connected (a row per user and instance holding a connection of theirs), the
-- instances alive (a heartbeat; a silent one is swept with its rows), when each user was last
-- online and whether they hide it; presence events name their subject.
-- The same step as sqlite/0007_presence.sql in PostgreSQL's dialect.

ALTER TABLE users
    ADD COLUMN last_seen BIGINT,
    ADD COLUMN presence_hidden BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE instances (
    id           BIGINT PRIMARY KEY,
    heartbeat_at BIGINT NOT NULL
);

CREATE TABLE presence (
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    instance_id BIGINT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, instance_id)
);
CREATE INDEX presence_instance ON presence (instance_id);

-- the user a presence event is about: it goes to whoever shares a conversation with them
ALTER TABLE events ADD COLUMN subject_id BIGINT REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX events_subject ON events (subject_id, seq) WHERE subject_id IS NOT NULL;
