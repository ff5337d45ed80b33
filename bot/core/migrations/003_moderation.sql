-- The moderators' review queue, the messages grouped into each item, member reports, and what the spam scanner
-- learned from moderators' decisions (model state and known-spam fingerprints), so nothing is lost on restart.
CREATE TABLE mod_queue (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,               -- platform of the first message: its moderators' channel shows the item
    author TEXT NOT NULL,                 -- platform-qualified id ("discord:123"), '' when unknown
    author_name TEXT NOT NULL,
    channel TEXT NOT NULL,                -- "platform:channel" of the first message
    message_ref TEXT,                     -- MessageRef.encode() of the first message, NULL for a reported text
    link TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,                   -- the original text, as the member wrote it
    normalised TEXT NOT NULL,
    score REAL NOT NULL,
    threshold REAL NOT NULL,
    reasons TEXT NOT NULL,                -- JSON list of {"rule", "weight", "detail"}
    fingerprint TEXT NOT NULL,            -- Verdict.fingerprint
    group_key TEXT NOT NULL,              -- near-duplicates of an open item share it (the fingerprint, usually)
    source TEXT NOT NULL DEFAULT 'scan',  -- scan | report
    auto_removed INTEGER NOT NULL DEFAULT 0,
    seen_count INTEGER NOT NULL DEFAULT 1,
    report_count INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'open',  -- open | removed | timed_out | not_spam | ignored
    created_at REAL NOT NULL,
    post_ref TEXT,                        -- the queue message in the moderators' channel
    decided_by TEXT,
    decided_by_name TEXT,
    decided_at REAL,
    outcome TEXT NOT NULL DEFAULT ''      -- what the decision did (deleted, timed out, what a platform refused)
);
CREATE INDEX mod_queue_open ON mod_queue(status, group_key);
CREATE INDEX mod_queue_created ON mod_queue(created_at);

CREATE TABLE mod_queue_messages (
    item_id INTEGER NOT NULL REFERENCES mod_queue(id) ON DELETE CASCADE,
    ref TEXT NOT NULL,                    -- MessageRef.encode()
    platform TEXT NOT NULL,
    channel TEXT NOT NULL,                -- the platform's channel id
    author TEXT NOT NULL,
    author_name TEXT NOT NULL,
    text TEXT NOT NULL,
    link TEXT NOT NULL DEFAULT '',
    seen_at REAL NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,   -- already deleted (auto action)
    PRIMARY KEY (item_id, ref)
);

-- One row per member and reported message: reporting the same message again does nothing new.
CREATE TABLE mod_reports (
    reporter TEXT NOT NULL,
    report_key TEXT NOT NULL,
    item_id INTEGER NOT NULL REFERENCES mod_queue(id) ON DELETE CASCADE,
    reported_at REAL NOT NULL,
    PRIMARY KEY (reporter, report_key)
);

CREATE TABLE spam_state (
    key TEXT PRIMARY KEY,                 -- 'model': BayesModel.to_state() as JSON
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE spam_fingerprints (
    fingerprint TEXT PRIMARY KEY,
    added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
