"""The spam scanner: normalising text, rules admins edit, what moderators taught it, and scoring.

Everything outside this package imports from here, so its modules can be rearranged freely.
"""

from bot.features.moderation.spam.engine import (
    BayesModel,
    Reason,
    RulesError,
    ScanMessage,
    Scanner,
    SpamRules,
    Verdict,
    fingerprint,
    fingerprint_similarity,
    normalise,
    scan_lines,
)

__all__ = [
    "BayesModel",
    "Reason",
    "RulesError",
    "ScanMessage",
    "Scanner",
    "SpamRules",
    "Verdict",
    "fingerprint",
    "fingerprint_similarity",
    "normalise",
    "scan_lines",
]
