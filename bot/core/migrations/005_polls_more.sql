-- Polls: ranked-choice and rating polls, a minimum of picks, who sees results when, who may vote, members adding
-- options, and a later opening time. Old polls keep today's behaviour through the defaults.
ALTER TABLE polls ADD COLUMN kind TEXT NOT NULL DEFAULT 'choice';        -- choice | ranked | rating
ALTER TABLE polls ADD COLUMN min_choices INTEGER NOT NULL DEFAULT 1;
ALTER TABLE polls ADD COLUMN results TEXT NOT NULL DEFAULT 'always';     -- always | voted | closed | moderators
ALTER TABLE polls ADD COLUMN voter_roles TEXT NOT NULL DEFAULT '';       -- space-separated role ids; '' = everyone
ALTER TABLE polls ADD COLUMN allow_add INTEGER NOT NULL DEFAULT 0;
ALTER TABLE polls ADD COLUMN opens_at REAL;
UPDATE polls SET results = 'closed' WHERE hide_results = 1;

-- A ranked ballot's order (0 = first choice); 0 for every pick of other kinds.
ALTER TABLE poll_votes ADD COLUMN preference INTEGER NOT NULL DEFAULT 0;

-- Who added an option (NULL for the creator's own options).
ALTER TABLE poll_options ADD COLUMN added_by TEXT;
