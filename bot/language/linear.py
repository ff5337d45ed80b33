"""A logistic-regression text classifier over hashed n-grams.

Small enough to train from the bundled corpus in a few seconds (`python -m bot.language.train`) and to score a
message in tens of microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.language.features import DIMENSIONS, Featuriser

# Rows are scaled to unit length, but never by less than this many features' worth: otherwise a three-word text
# would carry each of its few n-grams at full strength and a stray one could decide alone.
MIN_FEATURES = 60


@dataclass
class Rows:
    """A batch of texts as sparse binary rows, each scaled to unit length so long posts don't shout."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @classmethod
    def build(cls, parts: Sequence[np.ndarray]) -> Rows:
        lengths = np.array([len(p) for p in parts], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
        scale = 1.0 / np.sqrt(np.maximum(lengths, MIN_FEATURES))
        values = np.repeat(scale, lengths).astype(np.float32)
        return cls(indptr, indices, values)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def dot(self, weights: np.ndarray) -> np.ndarray:
        products = weights[self.indices] * self.values
        sums = np.add.reduceat(products, self.indptr[:-1]) if len(products) else np.zeros(len(self))
        sums[np.diff(self.indptr) == 0] = 0.0  # reduceat repeats the next value for an empty row
        return sums

    def gradient(self, residual: np.ndarray) -> np.ndarray:
        counts = np.diff(self.indptr)
        return np.bincount(self.indices, weights=self.values * np.repeat(residual, counts), minlength=DIMENSIONS)


class Adam:
    """Adam's update for one parameter array, in place."""

    def __init__(self, param: np.ndarray) -> None:
        self.param = param
        self.m = np.zeros_like(param)
        self.v = np.zeros_like(param)

    def step(self, grad: np.ndarray, t: int, rate: float, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.m = beta1 * self.m + (1 - beta1) * grad
        self.v = beta2 * self.v + (1 - beta2) * grad * grad
        mhat = self.m / (1 - beta1 ** t)
        vhat = self.v / (1 - beta2 ** t)
        self.param -= rate * mhat / (np.sqrt(vhat) + 1e-8)


@dataclass
class LinearClassifier:
    """P(label | text) = sigmoid(w · features + b)."""

    featuriser: Featuriser = field(default_factory=Featuriser)
    weights: np.ndarray = field(default_factory=lambda: np.zeros(DIMENSIONS, dtype=np.float32))
    bias: float = 0.0

    def rows(self, texts: Sequence[str]) -> Rows:
        return Rows.build([self.featuriser.indices(t) for t in texts])

    def fit(self, texts: Sequence[str], labels: Sequence[bool], *, l2: float = 1e-4, epochs: int = 300,
            rate: float = 0.5, positive_weight: float | None = None) -> None:
        """Full-batch Adam on the regularised log loss; classes are balanced unless `positive_weight` says."""
        x = self.rows(texts)
        y = np.asarray(labels, dtype=np.float64)
        n_pos = max(float(y.sum()), 1.0)
        n_neg = max(float(len(y) - y.sum()), 1.0)
        pw = positive_weight if positive_weight is not None else n_neg / n_pos
        sample = np.where(y > 0, pw, 1.0)
        sample = sample / sample.sum()
        w = np.zeros(DIMENSIONS, dtype=np.float64)
        bias = np.zeros(1)
        steps = [Adam(w), Adam(bias)]
        for step in range(1, epochs + 1):
            p = 1.0 / (1.0 + np.exp(-(x.dot(w) + bias[0])))
            residual = (p - y) * sample
            steps[0].step(x.gradient(residual) + l2 * w, step, rate)
            steps[1].step(np.array([residual.sum()]), step, rate)
        self.weights = w.astype(np.float32)
        self.bias = float(bias[0])

    def probability(self, text: str) -> float:
        return self.probability_of(self.featuriser.indices(text))

    def probability_of(self, idx: np.ndarray) -> float:
        """The probability of a text already read by this classifier's featuriser (`Featuriser.indices`)."""
        z = float(self.weights[idx].sum() / np.sqrt(max(len(idx), MIN_FEATURES))) + self.bias
        return float(1.0 / (1.0 + np.exp(-z)))

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.rows(texts).dot(self.weights) + self.bias)))
