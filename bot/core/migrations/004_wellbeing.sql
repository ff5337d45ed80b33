-- Wellbeing: members whose words suggest they may be in crisis, for the moderators to reach out to. Kept apart
-- from the spam queue: these messages are never hidden, deleted or learned from.
CREATE TABLE wellbeing_items (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    member TEXT NOT NULL,                 -- platform-qualified id
    member_name TEXT NOT NULL,
    channel TEXT NOT NULL,                -- the platform's channel id ('' for a private /faq question)
    source TEXT NOT NULL,                 -- message | faq
    excerpt TEXT NOT NULL,                -- at most 300 characters of what they wrote, for context
    link TEXT NOT NULL DEFAULT '',
    seen_count INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'open',  -- open | reaching_out | handled
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    post_ref TEXT,                        -- the item's message in the moderators' channel
    reaching_by TEXT,
    reaching_by_name TEXT,
    reaching_at REAL,
    handled_by TEXT,
    handled_by_name TEXT,
    handled_at REAL
);
CREATE INDEX wellbeing_member ON wellbeing_items(member, status);
