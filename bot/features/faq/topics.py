"""Which knowledge-base entry a question is about, learned from how members ask: a softmax classifier over hashed
character and word n-grams (IDF-weighted), trained on the entries' own questions and the bundled member questions
labelled with their entry, plus the questions the KB should decline as one more class.

The word ranking (search.py) finds entries by the words a question shares with them; this model learns which
n-grams tell entries apart ("will my brain get foggy" -> memory, without the word "memory"). The FAQ mixes the two.
Cross-validated on the training half of the labelled questions: 64.6% -> 67.5% answered right and 83.5% -> 92.3% of
off-topic questions declined (the model also learns from `faq_more.jsonl`, which the word index leaves out: its
many two-word questions made lone generic words look answerable).

A question with a single content word is left to the word ranking, but the model still says whether the KB
should answer it at all (`mix(..., one_word=True)`): "lol" or "who made you" no longer get an entry because some
member once used that word in a question about it. Cross-validated over every labelled question (faq, faq_examples
and faq_more held out in turn): 89.1% -> 90.0% of off-topic questions declined (one-word ones 34/38 -> 38/38), with
no in-scope question lost.

Sentence vectors were measured for this too (5-fold CV over the ~7,200 labelled member questions, model refitted
per fold): WordLlama's 256-d static embeddings (they ship in its wheel) in a softmax classifier put the right entry
first for 72.3% of in-scope questions against 84.7% for these n-grams, and mixed in at 20% added 0.7 points (and
declined 0.4 points more), for about 45 MB and 70 us per question. Not used.

The weights ship as `bot/language/data/topics.npz` (`python -m bot.language.train` rebuilds them with the other
models). An entry added later is unknown to the model and is found by the word ranking alone until then.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.features.faq.knowledge import Entry, KnowledgeBase
from bot.features.faq.search import Hit
from bot.language.corpus import bundled
from bot.language.features import Featuriser
from bot.language.linear import Adam
from bot.language.shipped import weights_path

log = logging.getLogger(__name__)

NAME = "topics"
DECLINE = "-decline"  # the class of questions the knowledge base should not answer
FEATURES = Featuriser(char_sizes=(2, 3, 4, 5), word_sizes=(1, 2))
BITS = 16  # 2**16 buckets x ~40 classes: about 10 MB in memory; more buckets measured no better
L2, EPOCHS, RATE = 1e-6, 150, 0.3  # chosen by 5-fold cross-validation
SHARE = 0.6  # the model's share of a mixed confidence (5-fold CV over the blind-written questions: 0.3 -> 0.6)


def _buckets(text: str) -> np.ndarray:
    return np.unique(FEATURES.indices(text) & ((1 << BITS) - 1))


def labelled_examples() -> list[dict]:
    """Members' questions labelled with the entry that answers them (null: the KB should decline)."""
    return [*bundled("faq_examples"), *bundled("faq_more")]


def training_rows(entries: Iterable[Entry], prepare: Callable[[str], str]) -> list[tuple[str, str]]:
    """(prepared text, entry id or DECLINE): the entries' titles and questions and the labelled member questions."""
    rows = [(q, e.id) for e in entries for q in (e.title, *e.questions)]
    rows += [(r["text"], str(r.get("entry") or DECLINE)) for r in labelled_examples()]
    for r in bundled("faq"):
        if r.get("expect"):
            rows.append((r["text"], str(r["expect"][0])))
        elif r.get("label") == "off_topic":
            rows.append((r["text"], DECLINE))
    return [(prepare(text), label) for text, label in rows]


@dataclass
class TopicModel:
    """P(entry | question) over the entries it was trained on."""

    classes: tuple[str, ...]
    weights: np.ndarray  # (2**BITS, classes)
    bias: np.ndarray  # (classes,)
    idf: np.ndarray  # (2**BITS,): n-grams most questions share say little about which entry is meant

    def __post_init__(self) -> None:
        # Row-major: a question reads a few hundred whole rows (one per n-gram); trained or loaded transposed, the
        # array is column-major, and gathering its rows costs ten times more.
        self.weights = np.ascontiguousarray(self.weights, dtype=np.float32)

    def _values(self, idx: np.ndarray) -> np.ndarray:
        v = self.idf[idx]
        return v / max(float(np.sqrt((v * v).sum())), 1e-9)

    @classmethod
    def fit(cls, rows: Sequence[tuple[str, str]]) -> TopicModel:
        """Full-batch Adam on the L2-regularised cross-entropy; a few seconds for ~2,000 questions."""
        classes = tuple(sorted({label for _, label in rows}))
        column = {c: i for i, c in enumerate(classes)}
        parts = [_buckets(text) for text, _ in rows]
        lengths = np.array([len(p) for p in parts])
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = np.concatenate(parts)
        df = np.bincount(indices, minlength=1 << BITS)
        idf = (np.log((1 + len(rows)) / (1 + df)) + 1.0).astype(np.float32)
        model = cls(classes, np.zeros(0), np.zeros(0), idf)
        values = np.concatenate([model._values(p) for p in parts])
        labels = np.array([column[label] for _, label in rows])
        w = np.zeros((len(classes), 1 << BITS))  # a row per class: each pass below reads contiguous memory
        b = np.zeros(len(classes))
        steps = [Adam(w), Adam(b)]
        row_of = np.repeat(np.arange(len(rows)), lengths)
        logits = np.empty((len(rows), len(classes)))
        grad = np.empty_like(w)
        for step in range(1, EPOCHS + 1):
            for c in range(len(classes)):
                logits[:, c] = np.add.reduceat(w[c][indices] * values, indptr[:-1])
            logits += b
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(rows)), labels] -= 1.0
            residual = p / len(rows)
            for c in range(len(classes)):
                grad[c] = np.bincount(indices, weights=values * residual[row_of, c], minlength=1 << BITS)
            steps[0].step(grad + L2 * w, step, RATE)
            steps[1].step(residual.sum(axis=0), step, RATE)
        model.weights, model.bias = w.T.astype(np.float32), b.astype(np.float32)
        return model

    def probabilities(self, prepared: str) -> dict[str, float]:
        idx = _buckets(prepared)
        logits = self._values(idx) @ self.weights[idx] + self.bias
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return dict(zip(self.classes, p.tolist(), strict=True))

    def save(self) -> str:
        path = weights_path(NAME)
        np.savez_compressed(path, classes=np.array(self.classes), weights=self.weights.astype(np.float16),
                            bias=self.bias, idf=self.idf.astype(np.float16))
        return str(path)


_lock = threading.Lock()
_shipped: list[TopicModel | None] = []


def shipped_topic_model() -> TopicModel | None:
    """The shipped weights (read once per process), or None when they are missing: the word ranking then works
    alone. Weights trained on an older KB still serve the entries they know."""
    with _lock:
        if not _shipped:
            try:
                with np.load(weights_path(NAME)) as data:
                    _shipped.append(TopicModel(tuple(str(c) for c in data["classes"]),
                                               data["weights"].astype(np.float32), data["bias"].astype(np.float32),
                                               data["idf"].astype(np.float32)))
            except (OSError, KeyError, ValueError) as exc:
                log.warning("no topic model (%s); the FAQ ranks by words alone", exc)
                _shipped.append(None)
        return _shipped[0]


def topic_model_for(kb: KnowledgeBase) -> TopicModel | None:
    """The shipped model when it knows at least one of this KB's entries; otherwise it has no opinion to add."""
    model = shipped_topic_model()
    if model is None or not {e.id for e in kb.entries} & set(model.classes):
        return None
    return model


def retrain(entries: Iterable[Entry], prepare: Callable[[str], str]) -> str:
    """Train on the KB's entries and the bundled questions and write the shipped weights."""
    rows = training_rows(entries, prepare)
    model = TopicModel.fit(rows)
    return f"topic model: {len(rows)} questions over {len(model.classes)} entries -> {model.save()}"


def mix(hits: Sequence[Hit], probabilities: dict[str, float], entries: dict[str, Entry],
        one_word: bool = False) -> list[Hit]:
    """The word ranking's hits and the model's probabilities as one ranking: each entry's confidence becomes
    SHARE of the model's probability plus the rest of the word ranking's confidence (0 where it did not rank it).
    An entry the model was not trained on keeps its word confidence: the model has no opinion on it.

    `one_word`: the question has a single content word. That is too little for the model to pick an entry
    ("treatment"), but enough for it to tell whether the KB should answer at all: "lol", "who made you" or
    "botox" share a word with some member's question about an entry, and the word ranking alone answered them
    with confidence. The word ranking then keeps the order and the model only scales it down (see `answerable`)."""
    if one_word:
        share = answerable(probabilities)
        scaled = [h if h.entry.id == DECLINE else Hit(h.entry, h.confidence * share) for h in hits]
        return sorted(scaled, key=lambda h: (-h.confidence, h.entry.id))
    confidence = {h.entry.id: h.confidence for h in hits}
    ids = set(confidence) | {e for e, p in probabilities.items() if p >= 0.01 and e in entries}

    def mixed(e: str) -> float:
        if e not in probabilities:
            return confidence[e]
        return SHARE * probabilities[e] + (1 - SHARE) * confidence.get(e, 0.0)

    return sorted((Hit(entries[e], mixed(e)) for e in ids), key=lambda h: (-h.confidence, h.entry.id))


def answerable(probabilities: dict[str, float]) -> float:
    """The model's probability that the knowledge base should answer the question at all (1 when the model has
    no decline class). For one-word questions it is close to 0 or 1: 1-pD was below 0.01 for chit-chat
    ("lol", "are you a bot") and above 0.99 for topic words ("insurance", "Kosten", "troches")."""
    return 1.0 - probabilities.get(DECLINE, 0.0)
