"""How likely a member's text is a crisis (thoughts of suicide or self-harm) or an unsafe request (getting high,
getting ketamine without a prescription, mixing, changing a dose alone).

Two logistic-regression classifiers over hashed character and word n-grams, trained on the labelled corpus bundled
in `bot/language/data` (texts written by people who never saw the bot's patterns). Character n-grams carry typos,
slang and other languages' inflections. The trained weights ship as `data/risk.npz`; `python -m bot.language.train`
rebuilds them after the corpus changes, and the bot retrains at start-up if they are missing or stale.

Chosen over sentence vectors by 5-fold cross-validation on the corpus: mean-pooled static embeddings (WordLlama,
256-d) reached 0.50 recall at 5% false alarms against 0.82 for n-grams, and adding them to the n-grams lowered it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bot.language import shipped
from bot.language.corpus import bundled
from bot.language.features import Featuriser
from bot.language.linear import LinearClassifier

FEATURES = Featuriser(char_sizes=(4, 5), word_sizes=(1, 2), dense_sizes=(1, 2, 3))
# Probability from which a text counts, chosen by 5-fold cross-validation on the corpus. Crisis: 0.84 of crisis
# texts, with about 10% false alarms on hard look-alikes and 1.6% on everyday questions (who still get their answer
# after the resources). A lower bar keeps more crisis texts (0.86 at 0.3, 0.885 at 0.25) but reaches the shortest
# everyday questions, whose few words carry crisis n-grams ("how much does it ..."): at 0.3 "how much does it cost",
# the question members ask most, got the crisis resources first. The knowledge base's own questions stay below it
# (tests/test_faq.py). Unsafe: about 0.74 recall at about 1.6% false refusals, before the admins' patterns add theirs.
CRISIS_THRESHOLD = 0.35
UNSAFE_THRESHOLD = 0.5
# Less regularisation than the 1e-5 chosen on a fifth of today's corpus: 5-fold CV at the same false-alarm rates
# gives crisis recall 0.69 -> 0.74 at 5% false alarms on hard look-alikes (0.81 -> 0.84 at 10%) and unsafe recall
# 0.71 -> 0.75 at 2% false refusals; the thresholds here and in the FAQ were moved with it.
L2 = 1e-6
NAME = "risk"
# Positive examples count 4 times: between the corpus's own prior (short unfamiliar texts stay "neither") and a
# balanced one (recall).
POSITIVE_WEIGHT = 4.0


@dataclass(frozen=True)
class Risk:
    crisis: float
    unsafe: float

    @property
    def is_crisis(self) -> bool:
        return self.crisis >= CRISIS_THRESHOLD

    @property
    def is_unsafe(self) -> bool:
        return self.unsafe >= UNSAFE_THRESHOLD


def training_rows() -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Crisis and unsafe examples from every bundled corpus that labels them."""
    crisis: list[tuple[str, bool]] = []
    unsafe: list[tuple[str, bool]] = []
    for row in bundled("crisis"):
        crisis.append((row["text"], bool(row["crisis"])))
    for row in bundled("unsafe"):
        unsafe.append((row["text"], bool(row["unsafe"])))
        crisis.append((row["text"], False))
    for row in (*bundled("risk_extra"), *bundled("risk_more")):
        crisis.append((row["text"], bool(row["crisis"])))
        unsafe.append((row["text"], bool(row["unsafe"])))
    # Ordinary questions and channel chatter: neither. Without them the classifiers learn what crisis looks like
    # against its look-alikes only, and any short text unlike both ("who won the game") lands in between.
    ordinary = [row["text"] for name in ("faq", "faq_examples", "faq_more", "kb_questions", "ordinary", "everyday")
                for row in bundled(name)]
    ordinary += [row["text"] for name in ("stream", "stream_more") for row in bundled(name) if not row["spam"]]
    for text in ordinary:
        crisis.append((text, False))
        unsafe.append((text, False))
    return crisis, unsafe


SETTINGS = {"l2": L2, "epochs": 150, "positive_weight": POSITIVE_WEIGHT}


class RiskModel:
    def __init__(self, crisis: LinearClassifier, unsafe: LinearClassifier) -> None:
        self.crisis = crisis
        self.unsafe = unsafe

    def assess(self, text: str) -> Risk:
        # Both models read the same n-grams: the text is read once (about a third of a question's safety check).
        idx = self.crisis.featuriser.indices(text)
        same = self.unsafe.featuriser == self.crisis.featuriser
        return Risk(self.crisis.probability_of(idx),
                    self.unsafe.probability_of(idx if same else self.unsafe.featuriser.indices(text)))


def named_rows() -> dict[str, shipped.Rows]:
    crisis, unsafe = training_rows()
    return {"crisis": crisis, "unsafe": unsafe}


_lock = threading.Lock()
_model: RiskModel | None = None


def shared_risk_model() -> RiskModel:
    """The process's one risk model: the shipped weights, or trained now (a few seconds) if they are stale."""
    global _model
    with _lock:
        if _model is None:
            models = shipped.load_or_train(NAME, named_rows(), FEATURES, SETTINGS)
            _model = RiskModel(models["crisis"], models["unsafe"])
        return _model


def retrain() -> str:
    rows = named_rows()
    path = shipped.retrain_and_save(NAME, rows, FEATURES, SETTINGS)
    return f"risk model: {len(rows['crisis'])} crisis and {len(rows['unsafe'])} unsafe examples -> {path}"
