"""The model learned from moderators' decisions: naive Bayes over a message's words, saved and restored as plain
JSON-ready state."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from bot.features.moderation.spam.fingerprints import text_words
from bot.features.moderation.spam.normalise import normalise

__all__ = ["BayesModel"]

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
        self._update(text_words(normalise(text)), int(bool(is_spam)), 1)

    def forget(self, text: str, is_spam: bool) -> None:
        """Undo an earlier `learn` (a moderator reversed the decision)."""
        self._update(text_words(normalise(text)), int(bool(is_spam)), -1)

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
        lo = self.log_odds(text_words(normalise(text)))
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
