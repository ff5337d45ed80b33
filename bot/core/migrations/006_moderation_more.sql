-- The moderators' queue, continued: the timeout length a moderator picked, who claimed an item ("I'm on it"),
-- and the last undone decision (who undid which decision and when), so all of it survives a restart.
ALTER TABLE mod_queue ADD COLUMN timeout_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mod_queue ADD COLUMN claimed_by TEXT;
ALTER TABLE mod_queue ADD COLUMN claimed_by_name TEXT;
ALTER TABLE mod_queue ADD COLUMN claimed_at REAL;
ALTER TABLE mod_queue ADD COLUMN undone_status TEXT NOT NULL DEFAULT '';  -- the decision undone, '' when none
ALTER TABLE mod_queue ADD COLUMN undone_decider TEXT NOT NULL DEFAULT '';  -- who had made it (name)
ALTER TABLE mod_queue ADD COLUMN undone_by TEXT;
ALTER TABLE mod_queue ADD COLUMN undone_by_name TEXT;
ALTER TABLE mod_queue ADD COLUMN undone_at REAL;

-- /modlog reads the moderators' decisions newest first.
CREATE INDEX audit_log_action ON audit_log(action, id);
