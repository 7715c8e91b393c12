-- One row that `/healthz` rewrites: a write that fails when the database cannot be written
-- (full disk, read-only file, broken connection), which a read alone would not show.

CREATE TABLE health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- When the last probe wrote, in milliseconds since the epoch.
    probed_at BIGINT NOT NULL
);

INSERT INTO health (id, probed_at) VALUES (1, 0);
