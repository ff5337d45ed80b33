-- Many communities in one deployment: a Discord server or Slack workspace configured on its own keeps its polls,
-- queue items, wellbeing items, knowledge gaps and FAQ counts apart from every other. '' is the default community
-- (every server and workspace not configured on its own), so what was stored before belongs to it.
ALTER TABLE polls ADD COLUMN community TEXT NOT NULL DEFAULT '';
ALTER TABLE mod_queue ADD COLUMN community TEXT NOT NULL DEFAULT '';
ALTER TABLE wellbeing_items ADD COLUMN community TEXT NOT NULL DEFAULT '';
CREATE INDEX mod_queue_community ON mod_queue(community, status);

-- The FAQ's tables are keyed by question or entry; the community joins their keys, so they are rebuilt.
CREATE TABLE faq_gaps_by_community (
    community TEXT NOT NULL DEFAULT '',
    query_key TEXT NOT NULL,
    example TEXT NOT NULL,
    asked INTEGER NOT NULL DEFAULT 1,
    best_entry TEXT,
    best_score REAL,
    first_seen TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_seen TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (community, query_key)
);
INSERT INTO faq_gaps_by_community(community, query_key, example, asked, best_entry, best_score, first_seen, last_seen)
    SELECT '', query_key, example, asked, best_entry, best_score, first_seen, last_seen FROM faq_gaps;
DROP TABLE faq_gaps;
ALTER TABLE faq_gaps_by_community RENAME TO faq_gaps;

CREATE TABLE faq_answers_by_community (
    community TEXT NOT NULL DEFAULT '',
    entry_id TEXT NOT NULL,
    answered INTEGER NOT NULL DEFAULT 1,
    last_answered TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (community, entry_id)
);
INSERT INTO faq_answers_by_community(community, entry_id, answered, last_answered)
    SELECT '', entry_id, answered, last_answered FROM faq_answers;
DROP TABLE faq_answers;
ALTER TABLE faq_answers_by_community RENAME TO faq_answers;

CREATE TABLE faq_ratings_by_community (
    community TEXT NOT NULL DEFAULT '',
    entry_id TEXT NOT NULL,
    member TEXT NOT NULL,
    helpful INTEGER NOT NULL,
    rated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (community, entry_id, member)
);
INSERT INTO faq_ratings_by_community(community, entry_id, member, helpful, rated_at)
    SELECT '', entry_id, member, helpful, rated_at FROM faq_ratings;
DROP TABLE faq_ratings;
ALTER TABLE faq_ratings_by_community RENAME TO faq_ratings;
