"""The spam scanner: normalising text, rules admins edit, what moderators taught it, and scoring.

Everything outside this package imports from here, so its modules can be rearranged freely.
"""

from bot.features.moderation.spam.fingerprints import fingerprint, fingerprint_similarity
from bot.features.moderation.spam.json_lines import scan_lines
from bot.features.moderation.spam.model import BayesModel
from bot.features.moderation.spam.normalise import normalise
from bot.features.moderation.spam.records import Reason, ScanMessage, Verdict
from bot.features.moderation.spam.rules import SpamRules
from bot.features.moderation.spam.rules_file import RulesError
from bot.features.moderation.spam.scanner import Scanner

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
