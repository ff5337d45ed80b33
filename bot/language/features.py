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

from bot.language.scripts import INSIDE_WORDS

DIMENSIONS = 1 << 18
MAX_CHARS = 1_000  # the first 1,000 characters are plenty to judge (long posts are also judged in windows)
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f"
                        "\u3164\ufeff\uffa0]")
_NON_WORD = re.compile(r"[^\w']+")
_REPEATS = re.compile(r"(.)\1{2,}")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_WORD = re.compile(r"\b(?=\w*[a-z])(?=\w*[013457])\w+\b")
_DENSE_RUNS = re.compile(f"(?:{INSIDE_WORDS.pattern})+")


def normalise(text: str) -> str:
    """Lowercase letters without accents, zero-width marks, look-alike width forms or runs of one letter."""
    text = unicodedata.normalize("NFKC", text[: MAX_CHARS * 2])
    text = _INVISIBLE.sub("", text)
    text = text.casefold()
    if not text.isascii():  # most messages are plain ASCII: skip the per-character accent strip for them
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = _LEET_WORD.sub(lambda m: m.group(0).translate(_LEET), text)
    text = _REPEATS.sub(r"\1\1", text)
    return " ".join(_NON_WORD.sub(" ", text).split())[:MAX_CHARS]


_MIX = np.uint64(0x9E3779B97F4A7C15)
_PRIME = np.uint64(1_000_003)
_SHIFT = np.uint64(64 - 18)  # the top bits of the mixed hash pick the bucket (DIMENSIONS = 2**18)


def _buckets(hashes: np.ndarray) -> np.ndarray:
    return ((hashes * _MIX) >> _SHIFT).astype(np.int32)


def _char_grams(padded: str, sizes: tuple[int, ...], salt: int = 0) -> list[np.ndarray]:
    """Hashes of every character n-gram, computed with numpy: the hash of the (n+1)-grams extends that of the
    n-grams, so each size costs one multiply-add over the text, with no Python loop per n-gram."""
    codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    out = []
    h = np.zeros(len(codes), dtype=np.uint64)
    with np.errstate(over="ignore"):  # the polynomial hash wraps around 2**64 on purpose
        for n in range(1, max(sizes, default=0) + 1):
            count = len(codes) - n + 1
            if count <= 0:
                break
            h = h[:count] * _PRIME + codes[n - 1:n - 1 + count]
            if n in sizes:
                out.append(h + np.uint64(n + salt))
    return out


def _word_grams(words: list[str], sizes: tuple[int, ...]) -> list[np.ndarray]:
    """Hashes of word n-grams, combined from one CRC per word with numpy (joining strings per n-gram cost as
    much as all the character n-grams together)."""
    if not words:
        return []
    h = np.array([zlib.crc32(w.encode("utf-8")) for w in words], dtype=np.uint64)
    out = []
    grams = h.copy()
    with np.errstate(over="ignore"):
        for n in range(1, max(sizes) + 1):
            if n > 1:
                grams = grams[:-1] * _PRIME + h[n - 1:]
            if not len(grams):
                break
            if n in sizes:
                # Salted apart from character n-grams of the same text, which hash in another way.
                out.append(grams * _PRIME + np.uint64(0x5F3759DF + n))
    return out


@dataclass(frozen=True)
class Featuriser:
    """Which n-grams a text is read as. Two featurisers with the same settings give the same buckets."""

    char_sizes: tuple[int, ...] = (2, 3, 4, 5)
    word_sizes: tuple[int, ...] = (1, 2)
    # Shorter character n-grams inside the runs of letters of writing systems without spaces between words (see
    # scripts.INSIDE_WORDS). One Chinese or Japanese character carries about as much as a short Latin word, so
    # 4-5 character n-grams there are whole phrases that seldom recur, and a "word" is a whole sentence: in
    # 5-fold CV the crisis model read as few as 2 of 77 Chinese crisis texts.
    dense_sizes: tuple[int, ...] = ()

    def indices(self, text: str) -> np.ndarray:
        """Sorted unique feature indices of one text (binary features: presence, not counts)."""
        norm = normalise(text)
        parts = _char_grams(f" {norm} ", self.char_sizes)
        if self.word_sizes:
            parts += _word_grams(norm.split(), self.word_sizes)
        if self.dense_sizes and not norm.isascii():
            runs = " ".join(_DENSE_RUNS.findall(norm))
            if runs:
                parts += _char_grams(f" {runs} ", self.dense_sizes, salt=0x7F00)
        if not parts:
            return np.zeros(0, dtype=np.int32)
        with np.errstate(over="ignore"):
            found = np.sort(_buckets(np.concatenate(parts)))
        return found[np.concatenate(([True], found[1:] != found[:-1]))]
