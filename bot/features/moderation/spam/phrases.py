"""Phrase patterns from the rules file, filed by the word or characters they start with, so a scan tries only the
few whose start occurs in the message."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.features.moderation.spam.prefixes import first_words_and_stems, prefixes
from bot.language.scripts import INSIDE_WORDS

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
        # Phrases are filed by the first words they can start with (worked out from the stdlib's regex parser),
        # so a scan tries only the phrases whose first word occurs in the message. One big alternation of all
        # phrases tries every branch at every word start and was several times slower. A first word left open
        # ("промокод\\w*", as inflected languages are written) is filed as a stem; a start in Chinese, Japanese,
        # Thai or Korean is also looked for inside runs of letters, since those scripts do not set words apart;
        # phrases whose first word cannot be listed are filed by their first three characters, or searched for
        # everywhere.
        self._phrases = phrases
        words: dict[str, list[int]] = {}
        stems: dict[str, list[int]] = {}
        inside: dict[str, list[int]] = {}
        index: dict[str, list[int]] = {}
        anywhere: list[int] = []
        for i, p in enumerate(phrases):
            listed = first_words_and_stems(p.pattern)
            starts = prefixes(p.pattern, _KEY_LEN) if listed is None else None
            for start in (*listed[0], *listed[1]) if listed is not None else (starts or ()):
                if INSIDE_WORDS.match(start):
                    inside.setdefault(start, []).append(i)
            if listed is not None:
                for word in listed[0]:
                    words.setdefault(word, []).append(i)
                for stem in listed[1]:
                    stems.setdefault(stem, []).append(i)
            elif starts is None:
                anywhere.append(i)
            else:
                for key in starts:
                    if not INSIDE_WORDS.match(key):  # those are found inside runs of letters, word starts included
                        index.setdefault(key, []).append(i)
        self._word_index = {word: tuple(ix) for word, ix in words.items()}
        self._word_keys = frozenset(words)
        # Stems by their first three characters (shorter ones, only in other scripts, whole), so each of the
        # message's words costs one or two look-ups.
        by_key: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        for stem, ix in stems.items():
            by_key.setdefault(stem[:_KEY_LEN], []).append((stem, tuple(ix)))
        self._stems = {key: tuple(found) for key, found in by_key.items()}
        self._short_stems = tuple(sorted({len(key) for key in by_key if len(key) < _KEY_LEN}))
        self._stems_ascii = any(stem.isascii() for stem in stems)  # else English messages skip the look-up
        # Starts inside runs of letters, by their first character.
        by_char: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        for start, ix in inside.items():
            by_char.setdefault(start[0], []).append((start, tuple(ix)))
        self._inside = {char: tuple(found) for char, found in by_char.items()}
        self._inside_re = re.compile(f"[{re.escape(''.join(sorted(by_char)))}]") if by_char else None
        self._phrase_index = {key: tuple(ix) for key, ix in index.items()}
        self._phrase_keys = frozenset(key for key in index if len(key) == _KEY_LEN)
        # Phrases known only by a shorter start are found at word starts with that first character.
        self._short_keys = tuple(sorted((key for key in index if len(key) < _KEY_LEN), key=len))
        firsts = "".join(sorted({key[0] for key in self._short_keys}))
        self._short_key_re = re.compile(f"[{re.escape(firsts)}](?<![^\\W_].)") if firsts else None
        self._phrase_search = {i: re.compile(rf"(?<![^\W_])(?:{phrases[i].pattern})") for i in anywhere}

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
        # The message's words (C-level set intersection) select the few phrases that can start with one of
        # them; str.find then locates that word's occurrences as whole words.
        starts: list[tuple[int, tuple[int, ...]]] = []
        size = len(text)
        found = [(word, self._word_index[word]) for word in self._word_keys.intersection(tokens)]
        ascii_text = text.isascii()
        if self._stems and (self._stems_ascii or not ascii_text):
            stems = self._stems
            for token in tokens:
                for stem, bucket in stems.get(token[:_KEY_LEN], ()):
                    if token.startswith(stem):
                        found.append((token, bucket))
                if self._short_stems and not token.isascii():
                    for n in self._short_stems:
                        for stem, bucket in stems.get(token[:n], ()):
                            if len(stem) == n:
                                found.append((token, bucket))
        for word, bucket in found:
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
        if self._inside_re is not None and not ascii_text:
            inside = self._inside
            for first in self._inside_re.finditer(text):
                pos = first.start()
                starts.extend((pos, bucket) for start, bucket in inside[first.group()] if text.startswith(start, pos))
        starts.sort()  # leftmost first, so a reason quotes the first occurrence
        for pos, bucket in starts:
            for i in bucket:
                if i not in hits:
                    hit = phrases[i].regex.match(text, pos)
                    if hit is not None:
                        hits[i] = hit.group()
        return hits
