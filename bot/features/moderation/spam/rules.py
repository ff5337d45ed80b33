"""What the scanner is tuned by: `SpamRules` and the settings it groups (weights, windows, links ...), with the
matchers compiled from them once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.features.moderation.spam.normalise import MAX_TEXT
from bot.features.moderation.spam.phrases import Phrase, PhraseIndex

__all__ = [
    "ContactRules",
    "FingerprintSettings",
    "HostVerdict",
    "LinkRules",
    "ModelSettings",
    "NewDomain",
    "SpamRules",
    "Weights",
    "Windows",
]

HostVerdict = tuple[str, float, str]  # (rule, weight, detail) of a link's host


@dataclass
class Weights:
    """Weight of every signal; see rules/spam.yaml for what each means."""

    link_unknown: float = 0.15
    link_new_domain: float = 0.35
    link_suspicious_tld: float = 0.45
    link_shortener: float = 0.5
    link_lookalike: float = 0.8
    links_max: float = 1.0
    invite_link: float = 0.6
    mass_mention: float = 0.6
    mass_mention_extra: float = 0.1
    mass_mention_max: float = 1.0
    phone_number: float = 0.4
    email_address: float = 0.3
    duplicate_two_channels: float = 0.5
    duplicate_more_channels: float = 0.7
    repeated_message: float = 0.3
    burst: float = 0.35
    new_member: float = 0.35
    disguised_text: float = 0.3
    disguised_text_max: float = 0.6
    known_spam: float = 1.5
    learned_spam_max: float = 1.0
    learned_ham_max: float = 0.8
    phrase_group_max: float = 2.0
    language_spam_max: float = 2.0
    language_ham_max: float = 0.4
    same_offer_channels: float = 0.7


@dataclass
class Windows:
    """Time windows and memory bounds of the per-author checks."""

    duplicate_seconds: float = 900.0
    duplicate_similarity: float = 0.3  # share of the shorter message's words the other has too
    duplicate_min_words: int = 4
    burst_seconds: float = 60.0
    burst_count: int = 8
    new_member_hours: float = 72.0
    offer_seconds: float = 3600.0
    author_history: int = 20
    max_authors: int = 20_000


@dataclass
class ModelSettings:
    """How the learned model's log-odds become a weight."""

    dead_zone: float = 2.0
    full_at: float = 8.0


@dataclass
class FingerprintSettings:
    """Matching of messages against spam the moderators removed before."""

    min_words: int = 3
    min_similarity: float = 0.55
    max_known: int = 50_000


@dataclass
class ContactRules:
    """What counts as a phone number."""

    phone_min_digits: int = 9
    phone_max_digits: int = 15


@dataclass
class NewDomain:
    """What makes a site name look freshly registered for one campaign."""

    min_digits: int = 3
    min_hyphens: int = 2
    min_length: int = 24
    max_consonant_run: int = 5


@dataclass
class LinkRules:
    """Which links are fine, which hide their target, and which look thrown away or imitate a brand."""

    known_tlds: frozenset[str] = frozenset()
    allow_domains: frozenset[str] = frozenset()
    allow_suffixes: frozenset[str] = frozenset()
    shorteners: frozenset[str] = frozenset()
    suspicious_tlds: frozenset[str] = frozenset()
    invite_patterns: tuple[str, ...] = ()
    brands: dict[str, frozenset[str]] = field(default_factory=dict)
    new_domain: NewDomain = field(default_factory=NewDomain)


@dataclass
class SpamRules:
    """Everything the scanner is tuned by; load with `SpamRules.load(path)`.

    Treat as immutable (matchers are compiled on creation): to change rules, load or build a new one and assign
    it to `Scanner.rules`.
    """

    threshold: float = 1.0
    auto_threshold: float | None = None
    max_text_chars: int = MAX_TEXT
    weights: Weights = field(default_factory=Weights)
    windows: Windows = field(default_factory=Windows)
    model: ModelSettings = field(default_factory=ModelSettings)
    fingerprints: FingerprintSettings = field(default_factory=FingerprintSettings)
    contact: ContactRules = field(default_factory=ContactRules)
    links: LinkRules = field(default_factory=LinkRules)
    mass_mentions: tuple[str, ...] = ("@everyone", "@here", "<!channel>", "<!here>", "<!everyone>")
    phrases: tuple[Phrase, ...] = ()
    source: str = "<defaults>"
    # Compiled from the fields above on creation, so scanning never compiles anything.
    phrase_index: PhraseIndex = field(init=False, repr=False, compare=False)
    invite_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    mention_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    official_domains: frozenset[str] = field(init=False, repr=False, compare=False)
    # What each host seen so far scored under these rules (None: an allowed site).
    host_cache: dict[str, HostVerdict | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.phrase_index = PhraseIndex(self.phrases)
        self.invite_re = (
            re.compile("|".join(f"(?:{p})" for p in self.links.invite_patterns)) if self.links.invite_patterns else None
        )
        mentions = sorted(self.mass_mentions, key=len, reverse=True)
        self.mention_re = (
            re.compile(r"(?<![\w@<])(?:" + "|".join(re.escape(m.casefold()) for m in mentions) + r")(?![\w])")
            if mentions
            else None
        )
        self.official_domains = frozenset(d for domains in self.links.brands.values() for d in domains)
        self.host_cache = {}

    @classmethod
    def load(cls, path: str | Path) -> SpamRules:
        """Read and validate a rules file; raises RulesError listing every problem with its line."""
        # Imported here because the loader builds SpamRules: each module needs the other.
        from bot.features.moderation.spam.rules_file import load_rules

        return load_rules(Path(path))
