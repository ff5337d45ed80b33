"""Spam detection: text normalisation, rule signals, a model learned from moderators, per-author memory.

Pure and synchronous; the only I/O is reading the rules YAML. Adapters turn platform messages into
`ScanMessage`; the moderation feature turns `Verdict`s into review-queue items and feeds decisions back
through `BayesModel.learn` / `Scanner.remember_spam`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from bot.core.yamlcheck import YamlFile

__all__ = [
    "BayesModel",
    "Reason",
    "RulesError",
    "ScanMessage",
    "Scanner",
    "SpamRules",
    "Verdict",
    "fingerprint",
    "normalise",
    "scan_lines",
]

MAX_TEXT = 20_000


# ---------------------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class ScanMessage:
    """One message to scan, already translated from its platform."""

    id: str
    author: str  # platform-qualified, e.g. "discord:123" or "slack:U1"
    channel: str
    text: str
    ts: float = 0.0  # seconds since epoch; 0 = unknown, the scanner then keeps arrival order
    author_joined_ts: float | None = None
    mention_count: int = 0  # @everyone/@here/<!channel>/role mentions resolved by the platform


@dataclass(frozen=True)
class Reason:
    """One signal that contributed to a score."""

    rule: str
    weight: float
    detail: str


@dataclass(frozen=True)
class Verdict:
    """The scanner's decision about one message, with every reason behind it."""

    message_id: str
    score: float
    threshold: float
    flagged: bool
    auto_action: bool
    reasons: tuple[Reason, ...]
    normalised: str
    fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "flagged": self.flagged,
            "score": round(self.score, 3),
            "threshold": self.threshold,
            "reasons": [{"rule": r.rule, "weight": round(r.weight, 3), "detail": r.detail} for r in self.reasons],
        }


# ---------------------------------------------------------------------------------------------------------
# Normalisation

# Letters that look like Latin ones. NFKC already folds fullwidth forms and mathematical alphanumerics, but not
# other scripts, which is exactly what spammers use to dodge word filters.
_CONFUSABLE: dict[str, str] = {}
for _src, _dst in (
    # Cyrillic
    ("АаВвЕеЁёКкМмНнОоРрСсТтУуХхЅѕІіЇїЈјҺһԚԛԜԝӀӏԁьɡ", "aabbeeeekkmmhhooppccttyyxxssiiiijjhhqqwwlldbg"),
    # Greek
    ("ΑαΒβΕεΖΗηΙιΚκΜΝνΟοΡρΤτΥυΧχγωϲϳ", "aabbeezhniikkmnvooppttyuxxywcj"),
    # Armenian, Cherokee and Latin extensions that do not decompose
    ("օսհոᎪᏴᏟᎠᎬᏀᎻᎫᏦᏞᎷᏢᏚᎢᏙᏔᏃ", "ounhabcdeghjklmpstvwz"),
    ("ıȷłđðøħŧƀɨɑɩʀ", "ijlddohtbiair"),
    # small capitals
    ("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnoprstuvwyz"),
    # punctuation that changes how phrases read
    ("‘’‚‛′´“”„‟″‐‑‒–—―−·•∙", "''''''\"\"\"\"\"-------..."),
):
    _CONFUSABLE.update(zip(_src, _dst, strict=True))
_CONFUSABLE.update({"æ": "ae", "œ": "oe", "þ": "th", "Æ": "ae", "Œ": "oe"})
for _base in (0x1F150, 0x1F170, 0x1F1E6):  # negative circled / squared letters, regional indicators
    for _i in range(26):
        _CONFUSABLE[chr(_base + _i)] = chr(ord("a") + _i)
del _src, _dst, _base, _i

_LOOKALIKE_CLASS = "".join(
    re.escape(c) for c in _CONFUSABLE if ("\u0370" <= c <= "\u052f") or "\u0530" <= c <= "\u058f"
)
# Each starts with the rare character it looks for, so the regex engine skips ordinary text in C.
_MIXED_SCRIPT = re.compile(f"[{_LOOKALIKE_CLASS}](?:(?<=[a-zA-Z].)|(?=[a-zA-Z]))")
_INVISIBLE = "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0"
_PADDING = re.compile(f"[{_INVISIBLE}\\s]{{2,}}")
_HARD_CAP_FACTOR = 50
_HIDDEN = re.compile(f"[{_INVISIBLE}](?<=[^\\W\\d_].)[{_INVISIBLE}]*[^\\W\\d_]")
_STYLED = re.compile("[\U0001d400-\U0001d7ff\uff21-\uff3a\uff41-\uff5a\U0001f130-\U0001f189\u24b6-\u24e9]")


class _FoldTable(dict):
    """str.translate table filled lazily: each code point is classified once, then served from C."""

    def __missing__(self, cp: int) -> str | None:
        if len(self) > 50_000:  # odd input must not grow memory without bound
            self.clear()
        out = _fold_char(chr(cp))
        self[cp] = out
        return out


def _fold_char(ch: str) -> str | None:
    if ch in _CONFUSABLE:
        return _CONFUSABLE[ch]
    if ch < "\x80":
        code = ord(ch)
        return _ASCII_CONTROLS.get(code, ch)
    cat = unicodedata.category(ch)
    if cat[0] == "C":  # control, format (zero-width, bidi overrides), surrogate, private, unassigned
        return None
    if cat == "Zs":
        return " "
    if cat in ("Zl", "Zp"):
        return "\n"
    if cat in ("Mn", "Me"):
        return None
    decomposed = unicodedata.normalize("NFD", ch)
    if decomposed != ch:
        base = "".join(c for c in decomposed if not unicodedata.combining(c))
        return "".join(_CONFUSABLE.get(c, c) for c in base) or None
    return ch


_FOLD = _FoldTable()
_ASCII_CONTROLS = {c: None for c in (*range(0, 9), *range(14, 32), 127)} | {11: " ", 12: " ", 13: " "}

# Single characters separated by spaces ("c a l l  m e"): two or more spaces separate the words.
# It starts and ends on a letter or digit, so a dash or full stop after the run stays where it was.
_SPACED = re.compile(r"(?<!\S)[a-z0-9@$+](?:[ \t]+[a-z0-9@$+.:/-](?!\S))+[ \t]+[a-z0-9](?!\S)")
_WIDE_GAP = re.compile(r"[ \t]{2,}")
# Single characters separated by punctuation ("t.e.l.e.g.r.a.m", "n-i-t-r-o").
_DOTTED = re.compile(r"(?<![a-z0-9])[a-z0-9](?:[._*-][a-z0-9]){2,}(?![a-z0-9])")
_DOTTED_SEPARATORS = str.maketrans("", "", "._*-")
# Quick tests first: each starts with a rare character, so the regex engine can skip ahead in C (a leading
# look-behind or a letter class would make it try every position). Most messages need none of the rewrites.
_SPACED_HINT = re.compile(r" [a-z0-9@$+][ \t]+[a-z0-9@$+.:/-][ \t]")
_DOTTED_HINT = re.compile(r"[._*-][a-z0-9][._*-][a-z0-9]")
_LEET_HINT = re.compile(r"[013457@$](?:(?<=[a-z].)|(?=[a-z])(?<![0-9]0)(?<=[$0]))")
# Only tokens where a l33t character touches a letter are rewritten.
_LEET_TOKEN = re.compile(r"(?<![a-z0-9@$])[a-z0-9@$]*(?:[a-z][013457@$]|\$[a-z]|(?<![a-z0-9])0[a-z])[a-z0-9@$]*")
_DOMAIN_TAIL = re.compile(r"[a-z0-9-]*\.[a-z]{2}")
_LEET_MAP = str.maketrans("013457@$", "oieasta" + "s")
_DOT_WORD = re.compile(
    r"\s*[(\[{<]\s*(?:dot|\.)\s*[)\]}>]\s*"
    r"|\s+dot\s+(?=(?:com|net|org|info|biz|io|co|xyz|top|shop|click|icu|online|site|store|ru|me|app|gg|ly|live"
    r"|link|club|vip|us|uk)(?![a-z]))"
    r"|(?<=[a-z0-9])\s+\.\s*(?=(?:com|net|org|xyz|top|shop|click|icu|online|site|store|info|biz|ru)(?![a-z]))"
)
_AT_WORD = re.compile(
    r"\s*[(\[{<]\s*at\s*[)\]}>]\s*|\s+at\s+(?=(?:gmail|yahoo|hotmail|outlook|proton(?:mail)?|icloud|aol)\.)"
)

# Bits of the disguise mask returned by _normalise.
_D_LOOKALIKE, _D_HIDDEN, _D_STYLED, _D_LEET, _D_SPACED, _D_DOTWORD = 1, 2, 4, 8, 16, 32
_DISGUISE_NAMES = (
    (_D_LOOKALIKE, "look-alike letters"),
    (_D_HIDDEN, "hidden characters"),
    (_D_STYLED, "fancy letters"),
    (_D_LEET, "l33t"),
    (_D_SPACED, "spaced-out letters"),
    (_D_DOTWORD, '"dot com"'),
)


def normalise(text: str) -> str:
    """Canonical form that rules, the model and fingerprints all see; never raises."""
    return _normalise(text, MAX_TEXT)[0]


def _normalise(text: Any, limit: int) -> tuple[str, int]:
    if not isinstance(text, str):
        text = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else str(text)
    if len(text) > limit:
        # Invisible padding must not push the real text past the cut: drop it first (C-speed passes, and
        # bounded by the hard cap).
        text = _PADDING.sub(" ", text[: limit * _HARD_CAP_FACTOR])[:limit]
    disguise = 0
    if text.isascii():
        if not text.isprintable():
            text = text.translate(_ASCII_CONTROLS)
        text = text.lower()
    else:
        if _HIDDEN.search(text):
            disguise |= _D_HIDDEN
        if len(_STYLED.findall(text, 0, 2000)) >= 3:
            disguise |= _D_STYLED
        # NFKC can expand (ligatures, "ﷺ"): cut again so the limit holds.
        text = unicodedata.normalize("NFKC", text)[:limit]
        if _MIXED_SCRIPT.search(text):
            disguise |= _D_LOOKALIKE
        text = text.translate(_FOLD).casefold()
    joined = [0]
    if _SPACED_HINT.search(f" {text} "):
        text = _SPACED.sub(lambda m: _join_spaced(m, joined), text)
    if _DOTTED_HINT.search(text):
        text = _DOTTED.sub(lambda m: _join_dotted(m, joined), text)
    if joined[0]:
        disguise |= _D_SPACED
    if _LEET_HINT.search(text):
        counter = [0]
        text = _LEET_TOKEN.sub(lambda m: _unleet(m, counter), text)
        if counter[0]:
            disguise |= _D_LEET
    if "dot" in text or "[." in text or "(." in text or " ." in text:
        text, n = _DOT_WORD.subn(".", text)
        if n:
            disguise |= _D_DOTWORD
    if "(at)" in text or "[at]" in text or "mail" in text or "yahoo" in text or "icloud" in text or "aol." in text:
        text, n = _AT_WORD.subn("@", text)
        if n:
            disguise |= _D_DOTWORD
    return " ".join(text.split()), disguise


def _join_spaced(m: re.Match[str], joined: list[int]) -> str:
    words = [word.replace(" ", "").replace("\t", "") for word in _WIDE_GAP.split(m.group())]
    if any(sum(c.isalpha() for c in word) >= 4 for word in words):  # "a b c" lists are not disguise
        joined[0] += 1
    return " ".join(words)


def _join_dotted(m: re.Match[str], joined: list[int]) -> str:
    word = m.group().translate(_DOTTED_SEPARATORS)
    if sum(c.isalpha() for c in word) >= 4:  # "u.s.a", "1.2.3" are not disguise
        joined[0] += 1
    return word


def _unleet(m: re.Match[str], counter: list[int]) -> str:
    tok = m.group()
    if tok.isalpha() or tok.isdigit():
        return tok
    s, start = m.string, m.start()
    if start and s[start - 1] in "/?=&#%":  # inside a URL path or query: ids, not words
        return tok
    if "@" in tok[1:] and _DOMAIN_TAIL.match(s, m.end()):  # an e-mail address
        return tok
    lead = ""
    if tok[0] == "@":  # a mention keeps its @
        lead, tok = "@", tok[1:]
    if not any(c.isalpha() for c in tok) or any(c in "2689" for c in tok):
        return lead + tok  # numbers, prices, model numbers with digits that are never letters
    if len(tok) == 2 and tok[0].isalpha() and tok[1] == "0":  # "n0", "t0"
        counter[0] += 1
        return lead + tok[0] + "o"
    if len(tok) < 3 or (tok[0].isdigit() and tok[0] != "0"):
        return lead + tok  # "b4", "10mg", "3rd", "5htp": numbers with units stay
    stripped = tok.rstrip("0123456789")
    if stripped != tok and not any(c in "013457@$" for c in stripped):
        tail = tok[len(stripped) :]
        # Trailing digits are usually a model number (coq10, b12, mp3); a doubled one is l33t (fr33, t00).
        if not (len(tail) == 2 and tail[0] == tail[1] and len(stripped) >= 2):
            return lead + tok
    counter[0] += 1
    return lead + tok.replace("11", "ll").translate(_LEET_MAP)


# ---------------------------------------------------------------------------------------------------------
# Words, fingerprints

_TOKEN = re.compile(r"\w+")
_MAX_WORD = 30
_STOPWORD_TEXT = """
    a an and are as at be but by for from has have he her his i if in is it its me my no not of on or our she
    so than that the their them then there they this to too was we were what when which who will with you your
    im it's i'm just been can do does did had am an also all any some would could should very really
    el la los las de del y en que un una por con para es mi se lo le les des et est une pour pas je il
    der die das und ist ich nicht mit ein eine zu den von"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
# Single letters and digits say nothing; removing them with the stop words keeps this a C-level set difference.
_NOT_CONTENT = _STOPWORDS | frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_SKETCH_K = 16  # a fingerprint keeps the 16 smallest word hashes (a bottom-k sketch)
_HASH_CACHE: dict[str, int] = {}
_HASH_CACHE_MAX = 200_000
_FINGERPRINT_RE = re.compile(r"(?:[0-9a-f]{8}){0,16}")
_POSTING_CAP = 500  # a word hash shared by more known spam than this is too common to find candidates by


def _words(text: str) -> frozenset[str]:
    """Distinct content words of normalised text (what the model and near-duplicate checks compare)."""
    return _content_words(set(_TOKEN.findall(text)))


def _content_words(tokens: set[str]) -> frozenset[str]:
    return frozenset(tokens - _NOT_CONTENT)


def _shingles(words: frozenset[str]) -> frozenset[str]:
    # Numbers (phone numbers, prices) change between copies of the same spam; words do not.
    return words.difference(filter(str.isdigit, words))


def _sketch(shingles: frozenset[str]) -> tuple[int, ...]:
    """The smallest word hashes, sorted: exact for short messages, an unbiased sample for long ones.

    Cheaper than k independent min-hashes (one hash per word instead of k) and, for chat-sized messages with
    at most 16 distinct words, it is the whole word set, so similarity is exact.
    """
    hashes = list(map(_HASH_CACHE.get, shingles))
    if None in hashes:
        hashes = [_token_hash(token) for token in shingles]
    return tuple(sorted(set(hashes))[:_SKETCH_K])


def _token_hash(token: str) -> int:
    value = _HASH_CACHE.get(token)
    if value is None:
        # blake2b, not hash(): fingerprints are stored and must be equal across processes.
        value = int.from_bytes(hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=4).digest())
        if len(_HASH_CACHE) >= _HASH_CACHE_MAX:
            _HASH_CACHE.clear()
        _HASH_CACHE[token] = value
    return value


_PACKERS = [struct.Struct(f">{n}I") for n in range(_SKETCH_K + 1)]


def _sketch_hex(sketch: tuple[int, ...]) -> str:
    return _PACKERS[len(sketch)].pack(*sketch).hex()


def _sketch_from_hex(fp: str) -> tuple[int, ...]:
    return tuple(sorted({int(fp[i : i + 8], 16) for i in range(0, len(fp), 8)}))


def _similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Estimated word-set similarity (Jaccard) of two sketches."""
    union = sorted(set(a) | set(b))[:_SKETCH_K]
    if not union:
        return 0.0
    in_a, in_b = set(a), set(b)
    return sum(1 for v in union if v in in_a and v in in_b) / len(union)


def fingerprint(text: str) -> str:
    """Near-duplicate fingerprint of a text (hex of its word-hash sketch), as stored for known spam."""
    return _sketch_hex(_sketch(_shingles(_words(normalise(text)))))


def fingerprint_similarity(a: str, b: str) -> float:
    """How alike two fingerprints' texts are (estimated Jaccard similarity of their words), 0 to 1."""
    if not a or not b or not _FINGERPRINT_RE.fullmatch(a) or not _FINGERPRINT_RE.fullmatch(b):
        return 0.0
    return _similarity(_sketch_from_hex(a), _sketch_from_hex(b))


# ---------------------------------------------------------------------------------------------------------
# Rules


class RulesError(Exception):
    """The rules file has problems; `problems` lists all of them as "file:line: what is wrong"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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


@dataclass
class Windows:
    """Time windows and memory bounds of the per-author checks."""

    duplicate_seconds: float = 900.0
    duplicate_similarity: float = 0.8
    duplicate_min_words: int = 4
    burst_seconds: float = 60.0
    burst_count: int = 8
    new_member_hours: float = 72.0
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


@dataclass(frozen=True)
class Phrase:
    """One pattern of a phrase group, compiled."""

    group: str
    pattern: str  # with macros expanded
    weight: float
    label: str
    regex: re.Pattern[str]


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

    def __post_init__(self) -> None:
        self._compile()

    def _compile(self) -> None:
        """Build the matchers once, so scanning never compiles anything."""
        # Phrases are indexed by the three characters they can start with (worked out from the stdlib's regex
        # parser), so a scan tries only the phrases whose start occurs at a word start in the message. One big
        # alternation of all phrases tries every branch at every word start and was several times slower;
        # phrases whose start cannot be listed are searched for everywhere.
        words: dict[str, list[int]] = {}
        index: dict[str, list[int]] = {}
        anywhere: list[int] = []
        for i, p in enumerate(self.phrases):
            first = _first_words(p.pattern)
            if first is not None:
                for word in first:
                    words.setdefault(word, []).append(i)
                continue
            starts = _prefixes(p.pattern, _KEY_LEN)
            if starts is None:
                anywhere.append(i)
            else:
                for key in starts:
                    index.setdefault(key, []).append(i)
        self._word_index = {word: tuple(ix) for word, ix in words.items()}
        self._word_keys = frozenset(words)
        self._phrase_index = {key: tuple(ix) for key, ix in index.items()}
        self._phrase_anywhere = tuple(anywhere)
        self._phrase_keys = frozenset(key for key in index if len(key) == _KEY_LEN)
        # Phrases known only by a shorter start are found at word starts with that first character.
        self._short_keys = tuple(sorted((key for key in index if len(key) < _KEY_LEN), key=len))
        firsts = "".join(sorted({key[0] for key in self._short_keys}))
        self._short_key_re = re.compile(f"[{re.escape(firsts)}](?<![a-z0-9].)") if firsts else None
        self._phrase_search = {i: re.compile(rf"(?<![a-z0-9])(?:{self.phrases[i].pattern})") for i in anywhere}
        self._invite_re = (
            re.compile("|".join(f"(?:{p})" for p in self.links.invite_patterns)) if self.links.invite_patterns else None
        )
        mentions = sorted(self.mass_mentions, key=len, reverse=True)
        self._mention_re = (
            re.compile(r"(?<![\w@<])(?:" + "|".join(re.escape(m.casefold()) for m in mentions) + r")(?![\w])")
            if mentions
            else None
        )
        self._official = frozenset(d for domains in self.links.brands.values() for d in domains)
        self._host_cache: dict[str, tuple[str, float, str] | None] = {}

    @classmethod
    def load(cls, path: str | Path) -> SpamRules:
        """Read and validate a rules file; raises RulesError listing every problem with its line."""
        return _RulesLoader(Path(path)).load()


_ID = re.compile(r"[a-z][a-z0-9-]{0,40}")
_MACRO_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOP_KEYS = {
    "version",
    "threshold",
    "auto_threshold",
    "max_text_chars",
    "weights",
    "windows",
    "model",
    "fingerprints",
    "mass_mentions",
    "contact",
    "links",
    "macros",
    "phrases",
}
_LINK_KEYS = {
    "known_tlds",
    "allow_domains",
    "allow_suffixes",
    "shorteners",
    "suspicious_tlds",
    "invite_patterns",
    "brands",
    "new_domain",
}
# Per-field limits: (integer?, minimum, maximum, minimum is exclusive?)
_LIMITS: dict[str, tuple[bool, float, float, bool]] = {
    "duplicate_seconds": (False, 0, 86_400 * 7, False),
    "duplicate_similarity": (False, 0, 1, True),
    "duplicate_min_words": (True, 1, 1000, False),
    "burst_seconds": (False, 0, 86_400, True),
    "burst_count": (True, 2, 10_000, False),
    "new_member_hours": (False, 0, 24 * 365, False),
    "author_history": (True, 1, 10_000, False),
    "max_authors": (True, 1, 10_000_000, False),
    "dead_zone": (False, 0, 50, False),
    "full_at": (False, 0, 100, True),
    "min_words": (True, 1, 1000, False),
    "min_similarity": (False, 0, 1, True),
    "max_known": (True, 1, 10_000_000, False),
    "phone_min_digits": (True, 5, 20, False),
    "phone_max_digits": (True, 5, 20, False),
    "min_digits": (True, 1, 100, False),
    "min_hyphens": (True, 1, 100, False),
    "min_length": (True, 4, 253, False),
    "max_consonant_run": (True, 2, 100, False),
}


class _RulesLoader:
    """Walks the composed YAML so every problem is reported with its line, all of them at once."""

    def __init__(self, path: Path) -> None:
        self.yf = YamlFile(path)

    def add(self, node: yaml.Node | None, message: str) -> None:
        self.yf.add(node, message)

    def load(self) -> SpamRules:
        yf = self.yf
        if yf.problems:
            raise RulesError([str(p) for p in yf.problems])
        if yf.root is None:
            raise RulesError([f"{yf.name}:1: the rules file is empty"])
        top = yf.mapping(yf.root, "rules file")
        if top is None:
            raise RulesError([str(p) for p in yf.problems])
        for key, (key_node, _) in top.items():
            if key not in _TOP_KEYS:
                self.add(key_node, f"unknown key '{key}' (expected one of: {', '.join(sorted(_TOP_KEYS))})")
        version = top.get("version")
        if version is not None and self.number(version[1], "version", integer=True) not in (1, None):
            self.add(version[1], "version must be 1")
        values: dict[str, Any] = {"source": yf.name}
        if "threshold" in top:
            value = self.number(top["threshold"][1], "threshold", minimum=0, exclusive=True)
            if value is not None:
                values["threshold"] = float(value)
        if "auto_threshold" in top:
            node = top["auto_threshold"][1]
            if not (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
                value = self.number(node, "auto_threshold", minimum=0, exclusive=True)
                threshold = values.get("threshold", SpamRules.threshold)
                if value is not None and value < threshold:
                    self.add(node, f"auto_threshold ({value}) must not be below threshold ({threshold})")
                elif value is not None:
                    values["auto_threshold"] = float(value)
        if "max_text_chars" in top:
            value = self.number(top["max_text_chars"][1], "max_text_chars", integer=True, minimum=100, maximum=10**6)
            if value is not None:
                values["max_text_chars"] = int(value)
        values["weights"] = self.section(top, "weights", Weights, weights=True)
        values["windows"] = self.section(top, "windows", Windows)
        values["model"] = model = self.section(top, "model", ModelSettings)
        if model.full_at <= model.dead_zone:
            self.add(top["model"][1], "model.full_at must be greater than model.dead_zone")
        values["fingerprints"] = self.section(top, "fingerprints", FingerprintSettings)
        values["contact"] = contact = self.section(top, "contact", ContactRules)
        if contact.phone_min_digits > contact.phone_max_digits:
            self.add(top["contact"][1], "contact.phone_min_digits must not exceed phone_max_digits")
        if "mass_mentions" in top:
            values["mass_mentions"] = tuple(v for v, _ in yf.text_list(top["mass_mentions"][1], "mass_mentions"))
        if "links" in top:
            values["links"] = self.links(top["links"][1])
        macros = self.macros(top["macros"][1]) if "macros" in top else {}
        if "phrases" in top:
            values["phrases"] = self.phrases(top["phrases"][1], macros)
        if not yf.problems:
            try:
                rules = SpamRules(**values)
            except re.error as exc:  # e.g. the same group name in two patterns
                self.add(top.get("phrases", (None, yf.root))[1], f"patterns do not combine: {exc}")
        if yf.problems:
            raise RulesError([str(p) for p in sorted(yf.problems, key=lambda p: p.line)])
        return rules

    def number(
        self,
        node: yaml.Node,
        what: str,
        *,
        integer: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive: bool = False,
    ) -> float | int | None:
        value = self.yf.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
            self.add(node, f"{what} must be {'a whole number' if integer else 'a number'}")
            return None
        if not math.isfinite(value):
            self.add(node, f"{what} must be a finite number")
            return None
        if minimum is not None and (value <= minimum if exclusive else value < minimum):
            self.add(node, f"{what} must be {'greater than' if exclusive else 'at least'} {minimum:g} (got {value})")
            return None
        if maximum is not None and value > maximum:
            self.add(node, f"{what} must be at most {maximum:g} (got {value})")
            return None
        return value

    def section(self, top: dict[str, tuple[yaml.Node, yaml.Node]], name: str, cls: type, weights: bool = False) -> Any:
        obj = cls()
        if name not in top:
            return obj
        mapping = self.yf.mapping(top[name][1], name)
        if mapping is None:
            return obj
        known = {f.name: f for f in fields(cls)}
        for key, (key_node, value_node) in mapping.items():
            if key not in known:
                self.add(key_node, f"unknown key '{name}.{key}' (expected one of: {', '.join(known)})")
                continue
            if weights:
                value = self.number(value_node, f"{name}.{key}", minimum=0, maximum=100)
            else:
                integer, lo, hi, exclusive = _LIMITS[key]
                value = self.number(
                    value_node, f"{name}.{key}", integer=integer, minimum=lo, maximum=hi, exclusive=exclusive
                )
            if value is not None:
                setattr(obj, key, int(value) if known[key].type in ("int", int) else float(value))
        return obj

    def domains(self, node: yaml.Node, what: str) -> frozenset[str]:
        out = set()
        for value, item in self.yf.text_list(node, what):
            value = value.casefold().strip(".")
            if not re.fullmatch(r"[a-z0-9.-]+", value):
                self.add(item, f"{what}: '{value}' is not a domain name")
                continue
            out.add(value)
        return frozenset(out)

    def links(self, node: yaml.Node) -> LinkRules:
        lr = LinkRules()
        mapping = self.yf.mapping(node, "links")
        if mapping is None:
            return lr
        for key, (key_node, value_node) in mapping.items():
            if key not in _LINK_KEYS:
                self.add(key_node, f"unknown key 'links.{key}' (expected one of: {', '.join(sorted(_LINK_KEYS))})")
            elif key == "invite_patterns":
                patterns = []
                for value, item in self.yf.text_list(value_node, "links.invite_patterns"):
                    if self.regex(value, item, "links.invite_patterns") is not None:
                        patterns.append(value)
                lr.invite_patterns = tuple(patterns)
            elif key == "brands":
                brands = self.yf.mapping(value_node, "links.brands") or {}
                lr.brands = {}
                for brand, (brand_node, official) in brands.items():
                    if not re.fullmatch(r"[a-z0-9]{3,40}", brand):
                        self.add(brand_node, f"links.brands: '{brand}' must be 3-40 lower-case letters or digits")
                        continue
                    lr.brands[brand] = self.domains(official, f"links.brands.{brand}")
            elif key == "new_domain":
                lr.new_domain = self.section({"new_domain": (key_node, value_node)}, "new_domain", NewDomain)
            else:
                setattr(lr, key, self.domains(value_node, f"links.{key}"))
        return lr

    def regex(self, pattern: str, node: yaml.Node, what: str) -> re.Pattern[str] | None:
        try:
            re.compile(pattern)
            # Patterns are combined with others, so a flag like (?i) that would apply to all is refused.
            compiled = re.compile(f"(?:{pattern})")
        except re.error as exc:
            where = f" (at position {exc.pos})" if exc.pos is not None and not exc.msg.startswith("global") else ""
            self.add(node, f"{what}: bad regular expression: {exc.msg}{where}: {pattern!r}")
            return None
        except (RecursionError, OverflowError) as exc:
            self.add(node, f"{what}: regular expression too complex: {exc}")
            return None
        if compiled.match(""):
            self.add(node, f"{what}: pattern matches empty text, so it would match every message: {pattern!r}")
            return None
        return compiled

    def macros(self, node: yaml.Node) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, (key_node, value_node) in (self.yf.mapping(node, "macros") or {}).items():
            value = self.yf.text(value_node, f"macros.{name}")
            if value is None:
                continue
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                self.add(key_node, f"macros: '{name}' is not a valid macro name")
                continue
            if self.regex(value, value_node, f"macros.{name}") is not None:
                # Bounded on the right, so ${drug} never matches the first letters of a longer word.
                out[name] = f"(?:{value})(?![a-z])"
        return out

    def phrases(self, node: yaml.Node, macros: dict[str, str]) -> tuple[Phrase, ...]:
        out: list[Phrase] = []
        groups = self.yf.mapping(node, "phrases")
        for group, (group_node, items_node) in (groups or {}).items():
            if not _ID.fullmatch(group):
                self.add(group_node, f"phrases: group name '{group}' must be lower-case letters, digits and '-'")
                continue
            if not isinstance(items_node, yaml.SequenceNode):
                self.add(items_node, f"phrases.{group} must be a list of {{pattern, weight, label}}")
                continue
            for item in items_node.value:
                phrase = self.phrase(group, item, macros)
                if phrase is not None:
                    out.append(phrase)
        return tuple(out)

    def phrase(self, group: str, node: yaml.Node, macros: dict[str, str]) -> Phrase | None:
        what = f"phrases.{group}"
        entry = self.yf.mapping(node, f"{what} item")
        if entry is None:
            return None
        ok = True
        for key, (key_node, _) in entry.items():
            if key not in ("pattern", "weight", "label"):
                self.add(key_node, f"{what}: unknown key '{key}' (expected pattern, weight, label)")
                ok = False
        if "pattern" not in entry or "weight" not in entry:
            self.add(node, f"{what}: each item needs 'pattern' and 'weight'")
            return None
        pattern_node = entry["pattern"][1]
        raw = self.yf.text(pattern_node, f"{what} pattern")
        weight = self.number(entry["weight"][1], f"{what} weight", minimum=-10, maximum=10)
        label = self.yf.text(entry["label"][1], f"{what} label", max_len=80) if "label" in entry else None
        if raw is None or weight is None or ("label" in entry and label is None):
            return None
        missing = [name for name in _MACRO_REF.findall(raw) if name not in macros]
        if missing:
            self.add(pattern_node, f"{what}: unknown macro ${{{missing[0]}}} (define it under 'macros')")
            return None
        pattern = _MACRO_REF.sub(lambda m: macros[m.group(1)], raw)
        compiled = self.regex(pattern, pattern_node, what)
        if compiled is None or not ok:
            return None
        return Phrase(group, pattern, float(weight), label or group, compiled)


_KEY_LEN = 3
# The first three characters at each word start. Matching the separator (the text is scanned with a space in
# front) instead of looking behind lets the engine skip letters in C: ~1/3 faster.
_KEYS = re.compile(r"[^a-z0-9](?=([^ ]..))", re.S)
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_MAX_PREFIXES = 5000
_STOP = "\0"  # the string cannot grow: what follows it is not listable
_END = "\1"  # (first-word mode) the word ended here: a non-word character follows


class _Enum(NamedTuple):
    n: int  # stop growing strings at this length
    words: bool  # first-word mode: a non-word character ends the string
    sre: Any  # the stdlib's regex parser module


def _first_words(pattern: str) -> frozenset[str] | None:
    """Every first word (run of \\w) that a match of the pattern starts with; None if that is not listable."""
    found = _enumerate(pattern, _Enum(_MAX_WORD + 1, True, None))
    if found is None:
        return None
    out = set()
    for s in found:
        if s.endswith(_END):
            s = s[:-1]
        elif s.endswith(_STOP) or len(s) > _MAX_WORD:
            return None  # the word goes on with something unlistable
        if not s:
            return None  # starts with punctuation ("$100", "@handle")
        out.add(s)
    return frozenset(out)


def _prefixes(pattern: str, n: int) -> frozenset[str] | None:
    """Strings of up to n characters that every match of the pattern starts with; None if unknown or huge.

    Shorter strings appear where the pattern continues with something that cannot be listed ([^.], \\w ...).
    """
    found = _enumerate(pattern, _Enum(n, False, None))
    if found is None:
        return None
    out = frozenset(s.rstrip(_STOP) for s in found)
    return None if "" in out else out


def _enumerate(pattern: str, ctx: _Enum) -> set[str] | None:
    try:
        import re._parser as sre  # the stdlib's own parser: exact, and only used while loading rules
    except ImportError:  # pragma: no cover - other Python versions
        return None
    try:
        return _extend({""}, list(sre.parse(pattern)), ctx._replace(sre=sre))
    except Exception:
        return None


def _finished(s: str, ctx: _Enum) -> bool:
    return len(s) >= ctx.n or s.endswith((_STOP, _END))


def _extend(partials: set[str], items: list[Any], ctx: _Enum) -> set[str] | None:
    for op, av in items:
        if all(_finished(s, ctx) for s in partials):
            break
        partials = _extend_one(partials, op, av, ctx)
        if len(partials) > _MAX_PREFIXES:
            return None
    return partials


def _append(todo: set[str], chars: Iterable[str], ctx: _Enum) -> set[str]:
    if not ctx.words:
        return {s + c for s in todo for c in chars}
    return {s + (c if c.isalnum() or c == "_" else _END) for s in todo for c in chars}


def _extend_one(partials: set[str], op: Any, av: Any, ctx: _Enum) -> set[str]:
    sre = ctx.sre
    done = {s for s in partials if _finished(s, ctx)}
    todo = partials - done
    stopped = done | {s + _STOP for s in todo}
    if op is sre.ASSERT_NOT and ctx.words and _charset(av[1], sre, ctx) and "a" in _charset(av[1], sre, ctx):
        return done | {s + _END for s in todo}  # "(?![a-z])" after a word (as in macros) ends it
    if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
        return partials  # zero-width
    if op is sre.LITERAL:
        return done | _append(todo, chr(av), ctx)
    if op is sre.IN:
        chars = _charset(av, sre, ctx)
        return stopped if chars is None else done | _append(todo, chars, ctx)
    if op is sre.SUBPATTERN:
        inner = _extend(todo, list(av[-1]), ctx)
        return stopped if inner is None else done | inner
    if op is sre.BRANCH:
        out = set(done)
        for branch in av[1]:
            inner = _extend(todo, list(branch), ctx)
            if inner is None:
                return stopped
            out |= inner
        return out
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
        low, high, item = av
        out = set(done)
        current = todo
        for count in range(min(high, ctx.n + 1) + 1):
            if count >= low or all(_finished(s, ctx) for s in current):
                out |= current
            if count == min(high, ctx.n + 1) or all(_finished(s, ctx) for s in current):
                break
            nxt = _extend(current, list(item), ctx)
            if nxt is None:
                return stopped
            current = nxt
        return out
    return stopped


def _charset(items: Any, sre: Any, ctx: _Enum) -> set[str] | None:
    if not isinstance(items, list):  # an assertion's sub-pattern: only a single character class is used
        items = list(items)
        if len(items) != 1 or items[0][0] not in (sre.IN, sre.LITERAL):
            return None
        op, av = items[0]
        return {chr(av)} if op is sre.LITERAL else _charset(av, sre, ctx)
    chars: set[str] = set()
    for op, av in items:
        if op is sre.LITERAL:
            chars.add(chr(av))
        elif op is sre.RANGE and av[1] - av[0] <= 64:
            chars.update(chr(c) for c in range(av[0], av[1] + 1))
        elif op is sre.CATEGORY and av is sre.CATEGORY_DIGIT:
            chars.update("0123456789")
        elif op is sre.CATEGORY and av is sre.CATEGORY_SPACE:
            chars.add(" ")  # normalised text has no other white space
        elif op is sre.CATEGORY and av is sre.CATEGORY_NOT_WORD and ctx.words:
            chars.add(" ")  # any non-word character ends the first word, which is all that matters here
        else:
            return None
    return chars


# ---------------------------------------------------------------------------------------------------------
# Learned model

_LLR_CAP = 4.0  # one word alone must not decide


class BayesModel:
    """Multinomial naive Bayes over normalised tokens, trained by moderator decisions.

    Each message counts a word once (binarised counts resist "buy buy buy" stuffing). Priors are equal: the
    mix of decisions moderators make says nothing about how much of all traffic is spam.
    """

    def __init__(self, min_per_class: int = 5, alpha: float = 1.0) -> None:
        self.min_per_class = min_per_class
        self.alpha = alpha
        self._docs = [0, 0]  # [ham, spam]
        self._counts: tuple[dict[str, int], dict[str, int]] = ({}, {})
        self._totals = [0, 0]
        self._vocab: dict[str, int] = {}

    @property
    def ready(self) -> bool:
        return min(self._docs) >= self.min_per_class

    @property
    def documents(self) -> tuple[int, int]:
        """(ham, spam) decisions learned."""
        return self._docs[0], self._docs[1]

    def learn(self, text: str, is_spam: bool) -> None:
        self._update(_words(normalise(text)), int(bool(is_spam)), 1)

    def forget(self, text: str, is_spam: bool) -> None:
        """Undo an earlier `learn` (a moderator reversed the decision)."""
        self._update(_words(normalise(text)), int(bool(is_spam)), -1)

    def _update(self, tokens: frozenset[str], cls: int, delta: int) -> None:
        counts, vocab = self._counts[cls], self._vocab
        if delta < 0 and self._docs[cls] == 0:
            return
        self._docs[cls] += delta
        for token in tokens:
            if delta > 0:
                counts[token] = counts.get(token, 0) + 1
                vocab[token] = vocab.get(token, 0) + 1
                self._totals[cls] += 1
            elif counts.get(token, 0) > 0:
                counts[token] -= 1
                self._totals[cls] -= 1
                if not counts[token]:
                    del counts[token]
                vocab[token] -= 1
                if not vocab[token]:
                    del vocab[token]

    def spam_probability(self, text: str) -> float | None:
        """P(spam | words), or None until at least `min_per_class` examples of each class were learned."""
        lo = self.log_odds(_words(normalise(text)))
        return None if lo is None else 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, lo))))

    def log_odds(self, tokens: Iterable[str]) -> float | None:
        """log P(spam|words)/P(ham|words) for already-normalised words; None while untrained."""
        if not self.ready:
            return None
        vocab = self._vocab
        a = self.alpha
        v = len(vocab)
        log = math.log
        norm = log(self._totals[0] + a * v) - log(self._totals[1] + a * v)
        ham, spam = self._counts
        lo = 0.0
        for token in tokens:
            if token in vocab:
                llr = log(spam.get(token, 0) + a) - log(ham.get(token, 0) + a) + norm
                lo += max(-_LLR_CAP, min(_LLR_CAP, llr))
        return lo

    def to_state(self) -> dict[str, Any]:
        return {
            "version": 1,
            "min_per_class": self.min_per_class,
            "alpha": self.alpha,
            "docs": {"ham": self._docs[0], "spam": self._docs[1]},
            "tokens": {"ham": dict(self._counts[0]), "spam": dict(self._counts[1])},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BayesModel:
        """Rebuild from `to_state()`; raises ValueError if the state is not one."""
        try:
            if state.get("version") != 1:
                raise ValueError(f"unsupported model state version {state.get('version')!r}")
            model = cls(int(state.get("min_per_class", 5)), float(state.get("alpha", 1.0)))
            docs, tokens = state["docs"], state["tokens"]
            model._docs = [int(docs["ham"]), int(docs["spam"])]
            for cls_index, name in ((0, "ham"), (1, "spam")):
                counts = model._counts[cls_index]
                for token, count in tokens[name].items():
                    if not isinstance(token, str) or isinstance(count, bool) or not isinstance(count, int):
                        raise ValueError(f"bad token count {token!r}: {count!r}")
                    if count > 0:
                        counts[token] = count
                        model._totals[cls_index] += count
                        model._vocab[token] = model._vocab.get(token, 0) + count
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a model state: {exc!r}") from exc
        if min(model._docs) < 0:
            raise ValueError("negative document counts")
        return model


# ---------------------------------------------------------------------------------------------------------
# Scanner

_URL_HINT = re.compile(r"\.(?<=[a-z0-9]\.)[a-z]")
_URL = re.compile(
    r"(?<![\w@.-])(?:(?P<scheme>(?:https?|hxxps?|ftp)://)|(?P<www>www\d?\.))?"
    r"(?P<host>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?P<tld>[a-z]{2,24}|xn--[a-z0-9-]{2,30}))"
    r"(?![a-z0-9-])(?::\d{2,5})?(?P<path>[/?#][^\s<>\"'`]*)?"
)
_IP_URL = re.compile(r"(?:https?|hxxps?)://\d{1,3}(?:\.\d{1,3}){3}")
_PHONE_HINT = re.compile(r"\d[\d ().-]{6}")
_PHONE = re.compile(r"(?<![\w$€£.,/+-])\+?\(?\d[\d ().-]{6,24}\d(?![\w%€$£])")
_PHONE_GROUPS = re.compile(r"\d+")
_EMAIL = re.compile(r"[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "nhs"})
_VOWELS = frozenset("aeiouy")
_HOST_FOLD = str.maketrans("013457l", "oieasti")


class _Seen(NamedTuple):
    ts: float
    channel: str
    shingles: frozenset[str]
    fingerprint: str


class Scanner:
    """Scores messages. Stateful: remembers recent messages per author, bounded by the rules' windows."""

    def __init__(self, rules: SpamRules, model: BayesModel | None = None) -> None:
        self.rules = rules  # replace at any time to hot-reload
        self.model = model if model is not None else BayesModel()
        self._authors: OrderedDict[str, deque[_Seen]] = OrderedDict()
        self._clock = 0.0
        self._known: dict[str, tuple[int, ...]] = {}  # fingerprint -> sketch, oldest first
        self._postings: dict[int, set[str]] = {}  # word hash -> fingerprints containing it

    # -- known spam -----------------------------------------------------------------------------------

    def remember_spam(self, text: str) -> None:
        """Moderators removed this as spam: near-same text anywhere (any platform) is now a strong signal."""
        shingles = _shingles(_words(_normalise(text, self.rules.max_text_chars)[0]))
        if len(shingles) >= self.rules.fingerprints.min_words:
            self._add_known(_sketch(shingles))

    def forget_spam(self, text: str) -> None:
        """A removal was reversed: drop every stored fingerprint that this text would match."""
        sketch = _sketch(_shingles(_words(_normalise(text, self.rules.max_text_chars)[0])))
        self._drop_known(_sketch_hex(sketch))
        for fp, _similarity in self._known_matches(sketch, self.rules.fingerprints.min_similarity):
            self._drop_known(fp)

    def known_spam_fingerprints(self) -> list[str]:
        return list(self._known)

    def load_fingerprints(self, fingerprints: Iterable[str]) -> None:
        """Add stored fingerprints (from `known_spam_fingerprints`); malformed entries are skipped."""
        for fp in fingerprints:
            if isinstance(fp, str) and fp and _FINGERPRINT_RE.fullmatch(fp):
                self._add_known(_sketch_from_hex(fp))

    def _add_known(self, sketch: tuple[int, ...]) -> None:
        fp = _sketch_hex(sketch)
        if not sketch or fp in self._known:
            return
        self._known[fp] = sketch
        for value in sketch:
            self._postings.setdefault(value, set()).add(fp)
        while len(self._known) > self.rules.fingerprints.max_known:
            self._drop_known(next(iter(self._known)))

    def _drop_known(self, fp: str) -> None:
        sketch = self._known.pop(fp, None)
        for value in sketch or ():
            members = self._postings.get(value)
            if members is not None:
                members.discard(fp)
                if not members:
                    del self._postings[value]

    def _known_matches(self, sketch: tuple[int, ...], min_similarity: float) -> list[tuple[str, float]]:
        # A stored sketch this similar shares at least min_similarity * len(sketch) of its hashes; hashes too
        # common to look up are counted as if shared, so the filter never drops a real match.
        shared: dict[str, int] = {}
        skipped = 0
        for value in sketch:
            members = self._postings.get(value)
            if members is None:
                continue
            if len(members) > _POSTING_CAP:
                skipped += 1
                continue
            for fp in members:
                shared[fp] = shared.get(fp, 0) + 1
        need = math.ceil(min_similarity * len(sketch)) - skipped
        out = []
        for fp, count in shared.items():
            if count >= need:
                similarity = _similarity(sketch, self._known[fp])
                if similarity >= min_similarity:
                    out.append((fp, similarity))
        return out

    # -- scanning -------------------------------------------------------------------------------------

    def scan(self, msg: ScanMessage) -> Verdict:
        """Score one message and remember it for the per-author checks."""
        rules = self.rules
        w = rules.weights
        ts = msg.ts if isinstance(msg.ts, (int, float)) and msg.ts > 0 and math.isfinite(msg.ts) else 0.0
        if ts <= 0:
            ts = self._clock + 1.0  # unknown time: one second after the latest message keeps the order
        self._clock = max(self._clock, ts)
        text, disguise = _normalise(msg.text, rules.max_text_chars)
        tokens = set(_TOKEN.findall(text))
        reasons: list[Reason] = []

        self._phrase_reasons(text, tokens, rules, reasons)
        if _URL_HINT.search(text):
            self._link_reasons(text, rules, reasons)
        self._contact_reasons(text, rules, reasons)
        self._mention_reasons(text, msg.mention_count, rules, reasons)
        if disguise:
            kinds = [name for bit, name in _DISGUISE_NAMES if disguise & bit]
            reasons.append(
                Reason(
                    "disguised-text",
                    min(w.disguised_text_max, w.disguised_text * len(kinds)),
                    "disguised text: " + ", ".join(kinds),
                )
            )

        words = _content_words(tokens)
        shingles = _shingles(words)
        sketch = _sketch(shingles)
        fp = _sketch_hex(sketch)
        self._behaviour_reasons(msg, ts, shingles, fp, rules, reasons)

        if self._known and len(shingles) >= rules.fingerprints.min_words:
            matches = self._known_matches(sketch, rules.fingerprints.min_similarity)
            if matches:
                best = max(s for _, s in matches)
                reasons.append(
                    Reason("known-spam-fingerprint", w.known_spam, f"matches spam removed before ({best:.0%} similar)")
                )

        lo = self.model.log_odds(words)
        if lo is not None:
            learned = self._learned_weight(lo, rules)
            if learned:
                p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, lo))))
                reasons.append(Reason("learned-model", learned, f"learned from moderators: spam probability {p:.2f}"))

        joined = msg.author_joined_ts
        if (
            joined is not None
            and isinstance(joined, (int, float))
            and ts - joined < rules.windows.new_member_hours * 3600
        ):
            others = sum(r.weight for r in reasons if r.weight > 0)
            if others > 0:
                hours = max(0.0, (ts - joined) / 3600)
                reasons.append(Reason("new-member", min(w.new_member, others), f"author joined {hours:.0f} h ago"))

        score = max(0.0, sum(r.weight for r in reasons)) if reasons else 0.0
        if len(reasons) > 1:
            reasons.sort(key=lambda r: -r.weight)
        auto = rules.auto_threshold
        return Verdict(
            message_id=str(msg.id),
            score=score,
            threshold=rules.threshold,
            flagged=score >= rules.threshold,
            auto_action=auto is not None and score >= auto,
            reasons=tuple(reasons),
            normalised=text,
            fingerprint=fp,
        )

    @staticmethod
    def _learned_weight(lo: float, rules: SpamRules) -> float:
        dz, full = rules.model.dead_zone, rules.model.full_at
        strength = min(1.0, (abs(lo) - dz) / (full - dz)) if abs(lo) > dz else 0.0
        if not strength:
            return 0.0
        return strength * (rules.weights.learned_spam_max if lo > 0 else -rules.weights.learned_ham_max)

    @staticmethod
    def _phrase_reasons(text: str, tokens: set[str], rules: SpamRules, reasons: list[Reason]) -> None:
        phrases = rules.phrases
        hits: dict[int, str] = {}
        for i, search in rules._phrase_search.items():
            hit = search.search(text)
            if hit is not None:
                hits[i] = hit.group()
        # The message's words (C-level set intersection) select the few phrases that can start with one of
        # them; str.find then locates that word's occurrences as whole words.
        starts: list[tuple[int, tuple[int, ...]]] = []
        size = len(text)
        for word in rules._word_keys.intersection(tokens):
            bucket = rules._word_index[word]
            pos = text.find(word)
            while pos >= 0:
                end = pos + len(word)
                if (pos == 0 or not _word_char(text[pos - 1])) and (end == size or not _word_char(text[end])):
                    starts.append((pos, bucket))
                pos = text.find(word, end)
        # Phrases whose first word cannot be listed (numbers, "$100") are filed by their first characters.
        if rules._phrase_keys:
            index = rules._phrase_index
            for key in rules._phrase_keys.intersection(_KEYS.findall(f" {text}")):
                pos = text.find(key)
                while pos >= 0:
                    if pos == 0 or text[pos - 1] not in _ALNUM:
                        starts.append((pos, index[key]))
                    pos = text.find(key, pos + 1)
            if rules._short_key_re is not None:
                for first in rules._short_key_re.finditer(text):
                    pos = first.start()
                    starts.extend((pos, index[key]) for key in rules._short_keys if text.startswith(key, pos))
        starts.sort()  # leftmost first, so a reason quotes the first occurrence
        for pos, bucket in starts:
            for i in bucket:
                if i not in hits:
                    hit = phrases[i].regex.match(text, pos)
                    if hit is not None:
                        hits[i] = hit.group()
        if not hits:
            return
        cap = rules.weights.phrase_group_max
        used: dict[str, float] = {}
        for i in sorted(hits, key=lambda i: -phrases[i].weight):
            p = phrases[i]
            if p.weight < 0:
                weight = max(p.weight, -cap - used.get(p.group, 0.0))
            else:
                weight = min(p.weight, cap - used.get(p.group, 0.0))
            if not weight or (weight < 0) != (p.weight < 0):
                continue
            used[p.group] = used.get(p.group, 0.0) + weight
            reasons.append(Reason(p.group, weight, f'{p.label}: "{_clip(hits[i])}"'))

    def _link_reasons(self, text: str, rules: SpamRules, reasons: list[Reason]) -> None:
        lr, w = rules.links, rules.weights
        invite: str | None = None
        found: dict[str, tuple[str, float, str] | None] = {}
        for m in _URL.finditer(text):
            host, tld, path = m["host"], m["tld"], m["path"] or ""
            if not (m["scheme"] or m["www"] or path or tld in lr.known_tlds):
                continue  # "e.g", "dr.smith": not a link
            if host.startswith("www"):
                host = re.sub(r"^www\d?\.", "", host)
            if rules._invite_re is not None and rules._invite_re.match(host + path):
                invite = invite or host + path
                continue
            if host not in found:
                found[host] = self._classify_host(host, tld, rules)
        if _IP_URL.search(text):
            found["<ip>"] = ("link-ip-address", w.link_suspicious_tld, "link to a bare IP address")
        if invite is not None:
            reasons.append(Reason("invite-link", w.invite_link, f"invite link {_clip(invite)}"))
        room = w.links_max
        for verdict in sorted((v for v in found.values() if v), key=lambda v: -v[1]):
            weight = min(verdict[1], room)
            if weight <= 0:
                break
            room -= weight
            reasons.append(Reason(verdict[0], weight, verdict[2]))

    @staticmethod
    def _classify_host(host: str, tld: str, rules: SpamRules) -> tuple[str, float, str] | None:
        cache = rules._host_cache
        if host in cache:
            return cache[host]
        lr, w = rules.links, rules.weights
        parts = host.split(".")
        suffixes = {".".join(parts[i:]) for i in range(len(parts))}
        result: tuple[str, float, str] | None
        if suffixes & lr.allow_domains or any(".".join(parts[i:]) in lr.allow_suffixes for i in range(1, len(parts))):
            result = None
        elif host in lr.shorteners:
            result = ("link-shortener", w.link_shortener, f"link shortener {host}")
        else:
            label = parts[-3] if len(parts) >= 3 and parts[-2] in _SECOND_LEVEL else parts[-2]
            brand = None if suffixes & rules._official else _lookalike(parts, lr)
            if brand is not None:
                result = ("link-lookalike", w.link_lookalike, f"site imitating {brand}: {host}")
            elif tld in lr.suspicious_tlds:
                result = ("link-suspicious-tld", w.link_suspicious_tld, f"throwaway-style ending .{tld}: {host}")
            elif _new_looking(label, lr.new_domain):
                result = ("link-new-domain", w.link_new_domain, f"throwaway-looking site name: {host}")
            else:
                result = ("link-unknown", w.link_unknown, f"link to {host}")
        if len(cache) > 10_000:
            cache.clear()
        cache[host] = result
        return result

    @staticmethod
    def _contact_reasons(text: str, rules: SpamRules, reasons: list[Reason]) -> None:
        w, c = rules.weights, rules.contact
        for m in _PHONE.finditer(text) if _PHONE_HINT.search(text) else ():
            groups = _PHONE_GROUPS.findall(m.group())
            digits = sum(len(g) for g in groups)
            if c.phone_min_digits <= digits <= c.phone_max_digits and max(map(len, groups)) >= 3 and len(groups) <= 7:
                reasons.append(Reason("contact-offsite", w.phone_number, f"phone number {_clip(m.group())}"))
                break
        if "@" in text:
            m = _EMAIL.search(text)
            if m is not None:
                reasons.append(Reason("contact-offsite", w.email_address, f"e-mail address {_clip(m.group())}"))

    @staticmethod
    def _mention_reasons(text: str, resolved: int, rules: SpamRules, reasons: list[Reason]) -> None:
        found: list[str] = []
        if rules._mention_re is not None and ("@" in text or "<!" in text):
            found = rules._mention_re.findall(text)
        extra = resolved if isinstance(resolved, int) and resolved > 0 else 0
        total = len(found) + extra
        if total:
            w = rules.weights
            weight = min(w.mass_mention_max, w.mass_mention + w.mass_mention_extra * (total - 1))
            what = ", ".join(sorted(set(found))) or "resolved by the platform"
            reasons.append(Reason("mass-mention", weight, f"{total} mass mention(s): {what}"))

    def _behaviour_reasons(
        self, msg: ScanMessage, ts: float, shingles: frozenset[str], fp: str, rules: SpamRules, reasons: list[Reason]
    ) -> None:
        win, w = rules.windows, rules.weights
        authors = self._authors
        history = authors.get(msg.author)
        if history is None:
            history = authors[msg.author] = deque()
            while len(authors) > win.max_authors:
                authors.popitem(last=False)
        else:
            authors.move_to_end(msg.author)
        horizon = ts - max(win.duplicate_seconds, win.burst_seconds)
        while history and history[0].ts < horizon:
            history.popleft()

        recent = sum(1 for seen in history if 0 <= ts - seen.ts <= win.burst_seconds) + 1
        if recent >= win.burst_count:
            reasons.append(Reason("burst", w.burst, f"{recent} messages within {win.burst_seconds:g} s"))

        if len(shingles) >= win.duplicate_min_words:
            channels = {msg.channel}
            near = 1
            for seen in history:
                if ts - seen.ts > win.duplicate_seconds or len(seen.shingles) < win.duplicate_min_words:
                    continue
                if seen.fingerprint == fp or _jaccard(shingles, seen.shingles) >= win.duplicate_similarity:
                    channels.add(seen.channel)
                    near += 1
            minutes = win.duplicate_seconds / 60
            if len(channels) >= 3:
                weight = w.duplicate_more_channels
                reasons.append(
                    Reason(
                        "duplicate-across-channels",
                        weight,
                        f"same text in {len(channels)} channels within {minutes:g} min",
                    )
                )
            elif len(channels) == 2:
                reasons.append(
                    Reason(
                        "duplicate-across-channels",
                        w.duplicate_two_channels,
                        f"same text in 2 channels within {minutes:g} min",
                    )
                )
            if near >= 3 and len(channels) < 3:
                reasons.append(
                    Reason("repeated-message", w.repeated_message, f"same text {near} times within {minutes:g} min")
                )

        history.append(_Seen(ts, msg.channel, shingles, fp))
        while len(history) > win.author_history:
            history.popleft()


def _word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lookalike(parts: list[str], lr: LinkRules) -> str | None:
    """The brand a host imitates, if any: contains it (after folding 1->i, 0->o, l->i ...) or is one typo away."""
    name = ".".join(parts[:-1]).translate(_HOST_FOLD).replace("rn", "m").replace("vv", "w")
    pieces = [p for p in re.split(r"[.\-0-9]+", name) if p]
    for brand in lr.brands:
        folded = brand.translate(_HOST_FOLD)
        if len(folded) >= 6:
            if folded in name or any(_one_edit(p, folded) for p in pieces):
                return brand
        elif folded in pieces:  # short brands ("steam") only as a whole word: "steamboat" is fine
            return brand
    return None


def _one_edit(a: str, b: str) -> bool:
    """True if a and b differ by exactly one insertion, deletion, substitution or swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1 :]


def _new_looking(label: str, nd: NewDomain) -> bool:
    digits = sum(c.isdigit() for c in label)
    if digits >= nd.min_digits or label.count("-") >= nd.min_hyphens or len(label) >= nd.min_length:
        return True
    run = longest = 0
    for c in label:
        run = run + 1 if c.isalpha() and c not in _VOWELS else 0
        longest = max(longest, run)
    return longest >= nd.max_consonant_run


# ---------------------------------------------------------------------------------------------------------
# CLI helper


def scan_lines(lines: Iterable[str], scanner: Scanner) -> Iterator[dict[str, Any]]:
    """Scan JSON lines ({"id","author","channel","text","ts"?}) for `bot spam scan`; bad lines become errors."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:
            yield {"id": None, "error": f"line {number}: not valid JSON: {getattr(exc, 'msg', exc)}"}
            continue
        problem = _line_problem(obj)
        if problem:
            yield {"id": None, "error": f"line {number}: {problem}"}
            continue
        msg = ScanMessage(
            id=str(obj["id"]),
            author=obj["author"],
            channel=obj["channel"],
            text=obj["text"],
            ts=float(obj.get("ts") or 0.0),
            author_joined_ts=float(obj["author_joined_ts"]) if obj.get("author_joined_ts") is not None else None,
            mention_count=int(obj.get("mention_count") or 0),
        )
        yield scanner.scan(msg).to_json()


def _line_problem(obj: Any) -> str:
    if not isinstance(obj, dict):
        return "expected a JSON object"
    problems = []
    if isinstance(obj.get("id"), bool) or not isinstance(obj.get("id"), str | int):
        problems.append("'id' must be a string or a number")
    for key in ("author", "channel", "text"):
        if not isinstance(obj.get(key), str):
            problems.append(f"'{key}' must be a string")
    if not obj.get("author") and "'author' must be a string" not in problems:
        problems.append("'author' is empty")
    for key in ("ts", "author_joined_ts"):
        value = obj.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0
        ):
            problems.append(f"'{key}' must be a non-negative number of seconds")
    count = obj.get("mention_count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        problems.append("'mention_count' must be a non-negative whole number")
    return "; ".join(problems)
