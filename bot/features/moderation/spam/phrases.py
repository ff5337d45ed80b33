"""Phrase patterns from the rules file, filed by the word or characters they start with, so a scan tries only the
few whose start occurs in the message."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.features.moderation.spam.prefixes import first_words, prefixes
from bot.language.scripts import INSIDE_WORDS, INSIDE_WORDS_CLASS

__all__ = ["Phrase", "PhraseIndex"]

_KEY_LEN = 3
# The first three characters at each word start. Matching the separator (the text is scanned with a space in
# front) instead of looking behind lets the engine skip letters in C: ~1/3 faster.
_KEYS = re.compile(r"[^a-z0-9](?=([^ ]..))", re.S)


@dataclass(frozen=True)
class Phrase:
    """One pattern of a phrase group, compiled."""

    group: str
    pattern: str  # with macros expanded
    weight: float
    label: str
    regex: re.Pattern[str]


class PhraseIndex:
    """Finds which phrases occur in normalised text; built once per rules, so scanning never compiles anything.

    Raises re.error if the patterns cannot be compiled for searching.
    """

    def __init__(self, phrases: tuple[Phrase, ...]) -> None:
        # Phrases are indexed by the three characters they can start with (worked out from the stdlib's regex
        # parser), so a scan tries only the phrases whose start occurs at a word start in the message. One big
        # alternation of all phrases tries every branch at every word start and was several times slower;
        # phrases whose start cannot be listed are searched for everywhere.
        self._phrases = phrases
        words: dict[str, list[int]] = {}
        index: dict[str, list[int]] = {}
        anywhere: list[int] = []
        inside: list[int] = []
        for i, p in enumerate(phrases):
            first = first_words(p.pattern)
            if any(INSIDE_WORDS.match(s) for s in (first or prefixes(p.pattern, _KEY_LEN) or ())):
                # Chinese, Japanese and Thai run words together, Korean attaches particles: such a start is
                # searched for inside runs of letters too, and the pattern's other starts are filed as usual.
                inside.append(i)
            if first is not None:
                for word in first:
                    words.setdefault(word, []).append(i)
                continue
            starts = prefixes(p.pattern, _KEY_LEN)
            if starts is None:
                anywhere.append(i)
            else:
                for key in starts:
                    index.setdefault(key, []).append(i)
        self._word_index = {word: tuple(ix) for word, ix in words.items()}
        self._word_keys = frozenset(words)
        self._phrase_index = {key: tuple(ix) for key, ix in index.items()}
        self._phrase_keys = frozenset(key for key in index if len(key) == _KEY_LEN)
        # Phrases known only by a shorter start are found at word starts with that first character.
        self._short_keys = tuple(sorted((key for key in index if len(key) < _KEY_LEN), key=len))
        firsts = "".join(sorted({key[0] for key in self._short_keys}))
        self._short_key_re = re.compile(f"[{re.escape(firsts)}](?<![^\\W_].)") if firsts else None
        self._phrase_search = {i: re.compile(rf"(?<![^\W_])(?:{phrases[i].pattern})") for i in anywhere}
        # Searched only in messages with letters of those scripts; a Latin alternative still starts a word.
        self._inside_search = {i: re.compile(rf"(?:(?={INSIDE_WORDS_CLASS})|(?<![^\W_]))(?:{phrases[i].pattern})")
                               for i in inside}

    def find(self, text: str, tokens: set[str]) -> dict[int, str]:
        """The position in the phrase list of each phrase found in the text, and the text its first match quotes.

        `tokens` are the text's \\w+ runs.
        """
        phrases = self._phrases
        hits: dict[int, str] = {}
        for i, search in self._phrase_search.items():
            hit = search.search(text)
            if hit is not None:
                hits[i] = hit.group()
        if self._inside_search and not text.isascii() and INSIDE_WORDS.search(text):
            for i, search in self._inside_search.items():
                hit = search.search(text)
                if hit is not None:
                    hits[i] = hit.group()
        # The message's words (C-level set intersection) select the few phrases that can start with one of
        # them; str.find then locates that word's occurrences as whole words.
        starts: list[tuple[int, tuple[int, ...]]] = []
        size = len(text)
        for word in self._word_keys.intersection(tokens):
            bucket = self._word_index[word]
            pos = text.find(word)
            while pos >= 0:
                end = pos + len(word)
                # Inline, not a helper per side: this runs about a dozen times per message.
                before = text[pos - 1] if pos else " "
                after = text[end] if end < size else " "
                if ((before == " " or not (before.isalnum() or before == "_"))
                        and (after == " " or not (after.isalnum() or after == "_"))):
                    starts.append((pos, bucket))
                pos = text.find(word, end)
        # Phrases whose first word cannot be listed (numbers, "$100") are filed by their first characters.
        if self._phrase_keys:
            index = self._phrase_index
            for key in self._phrase_keys.intersection(_KEYS.findall(f" {text}")):
                pos = text.find(key)
                while pos >= 0:
                    if pos == 0 or not text[pos - 1].isalnum():  # any script's letters, not only a-z
                        starts.append((pos, index[key]))
                    pos = text.find(key, pos + 1)
            if self._short_key_re is not None:
                for first in self._short_key_re.finditer(text):
                    pos = first.start()
                    starts.extend((pos, index[key]) for key in self._short_keys if text.startswith(key, pos))
        starts.sort()  # leftmost first, so a reason quotes the first occurrence
        for pos, bucket in starts:
            for i in bucket:
                if i not in hits:
                    hit = phrases[i].regex.match(text, pos)
                    if hit is not None:
                        hits[i] = hit.group()
        return hits
