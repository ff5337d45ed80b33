"""What the scanner learned from moderators (the model and known-spam fingerprints), as stored in the database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bot.features.moderation.spam import BayesModel, Scanner


def read_learned(path: Path, scanner: Scanner) -> list[str]:
    """Load what the bot stored into `scanner` without writing to its database; returns notes for the user."""
    if not path.is_file():
        return [f"no database at {path}; scanning without learned data"]
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM spam_state WHERE key = 'model'").fetchone()
            fingerprints = [r[0] for r in db.execute("SELECT fingerprint FROM spam_fingerprints ORDER BY rowid")]
        finally:
            db.close()
    except sqlite3.Error as exc:
        return [f"could not read learned data from {path} ({exc}); scanning without it"]
    notes = []
    if row is not None:
        try:
            scanner.model = BayesModel.from_state(json.loads(row[0]))
        except ValueError as exc:
            notes.append(f"the stored model could not be read ({exc})")
    scanner.load_fingerprints(fingerprints)
    return notes
