-- FAQ feedback: how often each entry was given as an answer, and members' "was this helpful?" ratings, so admins
-- see which answers to rewrite. Keyed by entry id (text), not a foreign key: entries live in faq/*.yaml.
CREATE TABLE faq_answers (
    entry_id TEXT PRIMARY KEY,
    answered INTEGER NOT NULL DEFAULT 1,
    last_answered TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- One rating per member per entry; rating again replaces it.
CREATE TABLE faq_ratings (
    entry_id TEXT NOT NULL,
    member TEXT NOT NULL,                 -- platform-qualified id
    helpful INTEGER NOT NULL,             -- 1 helpful, 0 not helpful
    rated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (entry_id, member)
);
