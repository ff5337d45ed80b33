-- Several processes may edit one poll message; these numbers make the edits converge on the latest tally.
-- tally_version grows with every change a poll message shows (a vote, a close, a reopen, an added option, the
-- opening), in the same commit. rendered_version is the newest version an edit of that copy has claimed; a copy is
-- never edited to an older version than it has claimed.
ALTER TABLE polls ADD COLUMN tally_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE poll_posts ADD COLUMN rendered_version INTEGER NOT NULL DEFAULT 0;
