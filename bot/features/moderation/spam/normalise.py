"""Canonical text for every check: NFKC, look-alike letters, zero-width characters, spaced-out letters, "dot com",
l33t; and which of those disguises a text used."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = ["MAX_TEXT", "disguise_names", "fold_pattern", "normalise", "normalise_with_disguise"]

MAX_TEXT = 20_000

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
# Letters of other alphabets are folded only inside Latin words (see _fold_lookalikes): "без рецепта" is Russian
# and rules are written for it; "kеtаminе" with Cyrillic е and а is a disguise.
_SCRIPT_LOOKALIKE = {c: _CONFUSABLE.pop(c) for c in list(_CONFUSABLE)
                     if "\u0370" <= c <= "\u058f" or "\u13a0" <= c <= "\u13ff"}
for _base in (0x1F150, 0x1F170, 0x1F1E6):  # negative circled / squared letters, regional indicators
    for _i in range(26):
        _CONFUSABLE[chr(_base + _i)] = chr(ord("a") + _i)
del _src, _dst, _base, _i

_LOOKALIKE_CLASS = "".join(re.escape(c) for c in _SCRIPT_LOOKALIKE)
_LOOKALIKE_ANY = re.compile(f"[{_LOOKALIKE_CLASS}]")
_LOOKALIKE_TABLE = str.maketrans(_SCRIPT_LOOKALIKE)
_LOOKALIKE_LETTERS = frozenset(_SCRIPT_LOOKALIKE)
_WORD = re.compile(r"[^\W_]+")
_LATIN = re.compile("[a-zA-Z]")
_INVISIBLE = "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0"
_PADDING = re.compile(f"[{_INVISIBLE}\\s]{{2,}}")
_HARD_CAP_FACTOR = 50
# The joiners (ZWNJ, ZWJ) are part of Persian, Urdu and Indic spelling (هزینه‌ی) and of emoji sequences: between
# Latin letters only they hide a word; every other invisible character does between letters of any script.
_JOINERS = "\u200c\u200d"
_NOT_JOINER = _INVISIBLE.replace("\u200b-\u200f", "\u200b\u200e\u200f")
_HIDDEN = re.compile(f"[{_NOT_JOINER}](?<=[^\\W\\d_].)[{_INVISIBLE}]*[^\\W\\d_]"
                     f"|[{_JOINERS}](?<=[a-zA-Z].)[{_INVISIBLE}]*[a-zA-Z]")
_STYLED = re.compile("[\U0001d400-\U0001d7ff\uff21-\uff3a\uff41-\uff5a\U0001f130-\U0001f189\u24b6-\u24e9]")


class _FoldTable(dict[int, str | None]):
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
        if base == decomposed:  # a Hangul syllable has no accent to drop: kept whole, as rules spell it
            return ch
        return "".join(_CONFUSABLE.get(c, c) for c in base) or None
    return ch


_FOLD = _FoldTable()
_ASCII_CONTROLS = {c: None for c in (*range(0, 9), *range(14, 32), 127)} | {11: " ", 12: " ", 13: " "}

# Single characters separated by spaces ("c a l l  m e", "б е з  р е ц е п т а", "氯 胺 酮"): two or more spaces
# separate the words.
# It starts and ends on a letter or digit, so a dash or full stop after the run stays where it was.
# Possessive: a run of single characters is taken whole, once, and its tail trimmed in _join_spaced. With a
# backtracking "+" followed by a required letter, "@ @ @ …" was retried from every position (quadratic).
_SPACED = re.compile(r"(?<!\S)(?:[^\W_]|[@$+])(?:[ \t]+(?:[^\W_]|[@$+.:/-])(?!\S))++")

_WIDE_GAP = re.compile(r"[ \t]{2,}")
# Single characters separated by punctuation ("t.e.l.e.g.r.a.m", "n-i-t-r-o").
_DOTTED = re.compile(r"(?<![a-z0-9])[a-z0-9](?:[._*-][a-z0-9]){2,}(?![a-z0-9])")
_DOTTED_SEPARATORS = str.maketrans("", "", "._*-")
# Quick tests first: each starts with a rare character, so the regex engine can skip ahead in C (a leading
# look-behind or a letter class would make it try every position). Most messages need none of the rewrites.
_SPACED_HINT = re.compile(r" (?:[^\W_]|[@$+])[ \t]+(?:[^\W_]|[@$+.:/-])[ \t]")
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

# Bits of the disguise mask returned by normalise_with_disguise.
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
    return normalise_with_disguise(text, MAX_TEXT)[0]


def fold_pattern(pattern: str) -> str:
    """A rules-file pattern's letters as normalised text has them (accents off, lower case), so admins can write
    "χωρίς συνταγή" or "envío" as the language spells them. Only non-ASCII characters change: "\\D" and "\\W" must
    keep their case."""
    if pattern.isascii():
        return pattern
    return "".join(c if c < "\x80" else c.translate(_FOLD).casefold() for c in unicodedata.normalize("NFKC", pattern))


def disguise_names(disguise: int) -> list[str]:
    """What a disguise mask from `normalise_with_disguise` stands for, as reasons name it."""
    return [name for bit, name in _DISGUISE_NAMES if disguise & bit]


def normalise_with_disguise(text: Any, limit: int) -> tuple[str, int]:
    """The canonical form of at most `limit` characters of text, and a mask of the disguises it undid."""
    if not isinstance(text, str):
        text = text.decode("utf-8", "replace") if isinstance(text, bytes | bytearray) else str(text)
    if len(text) > limit:
        # Invisible padding must not push the real text past the cut: drop it first (C-speed passes, and
        # bounded by the hard cap).
        text = _PADDING.sub(" ", text[: limit * _HARD_CAP_FACTOR])[:limit]
    disguise = 0
    joined = [0]
    if text.isascii():
        if not text.isprintable():
            text = text.translate(_ASCII_CONTROLS)
        text = text.lower()
        if _SPACED_HINT.search(f" {text} "):
            text = _SPACED.sub(lambda m: _join_spaced(m, joined), text)
    else:
        if _HIDDEN.search(text):
            disguise |= _D_HIDDEN
        if len(_STYLED.findall(text, 0, 2000)) >= 3:
            disguise |= _D_STYLED
        # NFKC can expand (ligatures, "ﷺ"): cut again so the limit holds.
        text = unicodedata.normalize("NFKC", text)[:limit]
        text = text.translate(_FOLD)
        # Spaced-out letters are joined before look-alikes are judged by word: "б е з" is one Russian word.
        if _SPACED_HINT.search(f" {text} "):
            text = _SPACED.sub(lambda m: _join_spaced(m, joined), text)
        if _LOOKALIKE_ANY.search(text):
            text, folded = _fold_lookalikes(text)
            if folded:
                disguise |= _D_LOOKALIKE
        text = text.casefold()
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


def _fold_lookalikes(text: str) -> tuple[str, bool]:
    """Cyrillic, Greek, Armenian and Cherokee look-alikes folded to Latin where they disguise Latin words; and
    whether any was.

    A word that mixes them with Latin letters is always a disguise. A word made only of look-alikes ("КЕТАМІNЕ"
    minus the N) is one when the message is mostly Latin words; in Russian or Greek, "как", "там" and "ΑΝΟ" are
    words of the language. Whole words, never single letters: folding every Cyrillic "е" and "р" turned real
    Russian into a mixture that no rule written in Russian matched.
    """
    latin = native = 0
    pure: set[str] = set()
    for word in _WORD.findall(text):
        if _LATIN.search(word):
            latin += 1
        elif not word.isascii():
            letters = {c for c in word if not c.isdigit()}
            if len(letters) > 1 and letters <= _LOOKALIKE_LETTERS:  # "у" and "а" alone are words (in, and)
                pure.add(word)
            else:
                native += 1
    fold_pure = bool(pure) and latin > native
    folded = [False]

    def fold(m: re.Match[str]) -> str:
        word = m.group()
        if word.isascii() or not (_LATIN.search(word) or (fold_pure and word in pure)):
            return word
        out = word.translate(_LOOKALIKE_TABLE)
        if out != word:
            folded[0] = True
        return out

    text = _WORD.sub(fold, text)
    return text, folded[0]


_ALNUM_CHAR = re.compile(r"[^\W_]")  # a letter or digit of any script


def _drop_last_token(run: str, end: int) -> int:
    """Where `run[:end]` ends once its last token and the gap before it are dropped (tokens are one character)."""
    k = end - 1
    while k >= 0 and run[k] not in " \t":
        k -= 1
    while k >= 0 and run[k] in " \t":
        k -= 1
    return k + 1


def _join_spaced(m: re.Match[str], joined: list[int]) -> str:
    run = m.group()
    end = len(run)
    while end and not _ALNUM_CHAR.match(run[end - 1]):  # the run must end on a letter or digit: drop the tail
        end = _drop_last_token(run, end)
    body = run[:end]
    if len(body.split()) < 3:
        return run
    words = [word.replace(" ", "").replace("\t", "") for word in _WIDE_GAP.split(body)]
    if any(sum(c.isalpha() for c in word) >= 4 for word in words):  # "a b c" lists are not disguise
        joined[0] += 1
    return " ".join(words) + run[end:]


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
    if not any(c.isalpha() for c in tok) or any(c in "26789" for c in tok):
        # numbers, prices, model numbers with digits that are never letters; 7 is rarely a "t" but is Arabic
        # chat's ح ("wa7da", "7ad"), so a word with it is left alone
        return lead + tok
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
