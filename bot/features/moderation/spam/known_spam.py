"""The fingerprints of spam moderators removed, indexed by word hash so near-duplicates are found without comparing
against every one."""

from __future__ import annotations

import math

from bot.features.moderation.spam.fingerprints import sketch_hex, sketch_similarity

__all__ = ["KnownSpam"]

_POSTING_CAP = 500  # a word hash shared by more known spam than this is too common to find candidates by


class KnownSpam:
    """Sketches of known spam, oldest first, with the fingerprints each word hash occurs in."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[int, ...]] = {}  # fingerprint -> sketch, oldest first
        self._postings: dict[int, set[str]] = {}  # word hash -> fingerprints containing it

    def __len__(self) -> int:
        return len(self._known)

    def fingerprints(self) -> list[str]:
        """Every stored fingerprint, oldest first."""
        return list(self._known)

    def add(self, sketch: tuple[int, ...], max_known: int) -> None:
        """Store a sketch; beyond `max_known` the oldest are dropped."""
        fp = sketch_hex(sketch)
        if not sketch or fp in self._known:
            return
        self._known[fp] = sketch
        for value in sketch:
            self._postings.setdefault(value, set()).add(fp)
        while len(self._known) > max_known:
            self.drop(next(iter(self._known)))

    def drop(self, fp: str) -> None:
        """Forget one fingerprint, if stored."""
        sketch = self._known.pop(fp, None)
        for value in sketch or ():
            members = self._postings.get(value)
            if members is not None:
                members.discard(fp)
                if not members:
                    del self._postings[value]

    def matches(self, sketch: tuple[int, ...], min_similarity: float) -> list[tuple[str, float]]:
        """Stored fingerprints at least `min_similarity` alike to the sketch, with their similarity."""
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
                similarity = sketch_similarity(sketch, self._known[fp])
                if similarity >= min_similarity:
                    out.append((fp, similarity))
        return out
