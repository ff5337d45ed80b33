-- Turns taken across every process on the database: a name (for example Discord's IDENTIFY bucket) is free again
-- at free_at (Unix time), so several `bot run` processes space out what a platform rate-limits per bot.
CREATE TABLE turns (
    name TEXT PRIMARY KEY,
    free_at REAL NOT NULL
);
