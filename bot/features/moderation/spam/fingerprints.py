"""The words a text is compared by, and near-duplicate fingerprints of them: bottom-k sketches of word hashes and
their estimated similarity."""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterator
from typing import cast

from bot.features.moderation.spam.normalise import normalise

__all__ = [
    "TOKEN",
    "content_words",
    "fingerprint",
    "fingerprint_similarity",
    "is_fingerprint",
    "shingles",
    "sketch",
    "sketch_from_hex",
    "sketch_hex",
    "sketch_similarity",
    "text_words",
]

TOKEN = re.compile(r"\w+")
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


def text_words(text: str) -> frozenset[str]:
    """Distinct content words of normalised text (what the model and near-duplicate checks compare)."""
    return content_words(set(TOKEN.findall(text)))


def content_words(tokens: set[str]) -> frozenset[str]:
    """The tokens that carry meaning: no stop words, single letters or digits."""
    return frozenset(tokens - _NOT_CONTENT)


def shingles(words: frozenset[str]) -> frozenset[str]:
    """The words a fingerprint is made of."""
    # Numbers (phone numbers, prices) change between copies of the same spam; words do not.
    numbers: Iterator[str] = filter(str.isdigit, words)
    return words.difference(numbers)


def sketch(words: frozenset[str]) -> tuple[int, ...]:
    """The smallest word hashes, sorted: exact for short messages, an unbiased sample for long ones.

    Cheaper than k independent min-hashes (one hash per word instead of k) and, for chat-sized messages with
    at most 16 distinct words, it is the whole word set, so similarity is exact.
    """
    cached = list(map(_HASH_CACHE.get, words))
    hashes = [token_hash(token) for token in words] if None in cached else cast(list[int], cached)
    return tuple(sorted(set(hashes))[:_SKETCH_K])


def token_hash(token: str) -> int:
    value = _HASH_CACHE.get(token)
    if value is None:
        # blake2b, not hash(): fingerprints are stored and must be equal across processes.
        value = int.from_bytes(hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=4).digest())
        if len(_HASH_CACHE) >= _HASH_CACHE_MAX:
            _HASH_CACHE.clear()
        _HASH_CACHE[token] = value
    return value


_PACKERS = [struct.Struct(f">{n}I") for n in range(_SKETCH_K + 1)]


def sketch_hex(hashes: tuple[int, ...]) -> str:
    """A sketch as its fingerprint: the hex of its hashes."""
    return _PACKERS[len(hashes)].pack(*hashes).hex()


def sketch_from_hex(fp: str) -> tuple[int, ...]:
    """The sketch of a fingerprint that `is_fingerprint` accepted."""
    return tuple(sorted({int(fp[i : i + 8], 16) for i in range(0, len(fp), 8)}))


def is_fingerprint(fp: str) -> bool:
    """Whether a stored string has the form of a fingerprint (it may be empty)."""
    return _FINGERPRINT_RE.fullmatch(fp) is not None


def sketch_similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Estimated word-set similarity (Jaccard) of two sketches."""
    union = sorted(set(a) | set(b))[:_SKETCH_K]
    if not union:
        return 0.0
    in_a, in_b = set(a), set(b)
    return sum(1 for v in union if v in in_a and v in in_b) / len(union)


def fingerprint(text: str) -> str:
    """Near-duplicate fingerprint of a text (hex of its word-hash sketch), as stored for known spam."""
    return sketch_hex(sketch(shingles(text_words(normalise(text)))))


def fingerprint_similarity(a: str, b: str) -> float:
    """How alike two fingerprints' texts are (estimated Jaccard similarity of their words), 0 to 1."""
    if not a or not b or not is_fingerprint(a) or not is_fingerprint(b):
        return 0.0
    return sketch_similarity(sketch_from_hex(a), sketch_from_hex(b))
