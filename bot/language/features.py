"""Text to sparse features: hashed character n-grams and word n-grams of a normalised text.

Character n-grams carry typos, slang spellings and other languages' inflections that a word list never lists;
word pairs carry the little phrases ("better off", "without a") whose words alone mean nothing. Hashing keeps the
vocabulary open: a word nobody wrote in training still lands on the same buckets as its near spellings.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass

import numpy as np

DIMENSIONS = 1 << 18
MAX_CHARS = 2_000  # a feature vector of the first 2,000 characters is plenty to judge; keeps the cost bounded
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f"
                        "\u3164\ufeff\uffa0]")
_NON_WORD = re.compile(r"[^\w']+")
_REPEATS = re.compile(r"(.)\1{2,}")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_WORD = re.compile(r"\b(?=\w*[a-z])(?=\w*[013457])\w+\b")


def normalise(text: str) -> str:
    """Lowercase letters without accents, zero-width marks, look-alike width forms or runs of one letter."""
    text = unicodedata.normalize("NFKC", text[: MAX_CHARS * 2])
    text = _INVISIBLE.sub("", text)
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = _LEET_WORD.sub(lambda m: m.group(0).translate(_LEET), text)
    text = _REPEATS.sub(r"\1\1", text)
    return " ".join(_NON_WORD.sub(" ", text).split())[:MAX_CHARS]


def _bucket(token: str) -> int:
    return zlib.crc32(token.encode("utf-8")) & (DIMENSIONS - 1)


@dataclass(frozen=True)
class Featuriser:
    """Which n-grams a text is read as. Two featurisers with the same settings give the same buckets."""

    char_sizes: tuple[int, ...] = (2, 3, 4, 5)
    word_sizes: tuple[int, ...] = (1, 2)

    def indices(self, text: str) -> np.ndarray:
        """Sorted unique feature indices of one text (binary features: presence, not counts)."""
        norm = normalise(text)
        grams: set[str] = set()
        words = norm.split()
        for n in self.word_sizes:
            for i in range(len(words) - n + 1):
                grams.add("w:" + " ".join(words[i:i + n]))
        padded = f" {norm} "
        for n in self.char_sizes:
            for i in range(len(padded) - n + 1):
                grams.add(padded[i:i + n])
        if not grams:
            return np.zeros(0, dtype=np.int32)
        return np.unique(np.fromiter((_bucket(g) for g in grams), dtype=np.int32, count=len(grams)))
