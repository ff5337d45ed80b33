-- Polls, their options, one ballot per member (platform identity) per poll, and where each poll is shown.
CREATE TABLE polls (
    id INTEGER PRIMARY KEY,
    question TEXT NOT NULL,
    creator TEXT NOT NULL,
    creator_name TEXT NOT NULL,
    max_choices INTEGER NOT NULL DEFAULT 1,
    anonymous INTEGER NOT NULL DEFAULT 1,
    hide_results INTEGER NOT NULL DEFAULT 0,
    closes_at REAL,
    closed_at REAL,
    closed_by TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX polls_open ON polls(closed_at, closes_at);

CREATE TABLE poll_options (
    poll_id INTEGER NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (poll_id, position)
);

-- The primary key is the rule "a member picks an option at most once"; max_choices caps the rows per voter.
CREATE TABLE poll_votes (
    poll_id INTEGER NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    voter TEXT NOT NULL,
    voter_name TEXT NOT NULL,
    position INTEGER NOT NULL,
    voted_at REAL NOT NULL,
    PRIMARY KEY (poll_id, voter, position)
);

CREATE TABLE poll_posts (
    poll_id INTEGER NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    ref TEXT NOT NULL,
    PRIMARY KEY (poll_id, ref)
);
