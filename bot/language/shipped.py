"""Classifiers that ship trained: weights in `bot/language/data/NAME.npz`, stamped with a digest of the corpus and
settings they came from, so stale weights are noticed and retrained instead of silently used."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from bot.language.features import Featuriser
from bot.language.linear import LinearClassifier

log = logging.getLogger(__name__)

Rows = Sequence[tuple[str, bool]]


def digest(named_rows: dict[str, Rows], featuriser: Featuriser, settings: dict[str, float]) -> str:
    # dense_sizes joins only when set, so weights trained before it existed keep their digest.
    dense = [featuriser.dense_sizes] if featuriser.dense_sizes else []
    payload = json.dumps([sorted((k, list(v)) for k, v in named_rows.items()), featuriser.char_sizes,
                          featuriser.word_sizes, sorted(settings.items()), *dense], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def weights_path(name: str) -> Path:
    return Path(str(resources.files("bot.language").joinpath("data", f"{name}.npz")))


def save(name: str, models: dict[str, LinearClassifier], stamp: str) -> Path:
    arrays: dict[str, np.ndarray] = {"digest": np.array(stamp)}
    for key, model in models.items():
        arrays[key] = model.weights.astype(np.float16)
        arrays[f"{key}_bias"] = np.array(model.bias)
    path = weights_path(name)
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
    return path


def load(name: str, keys: Sequence[str], featuriser: Featuriser, stamp: str) -> dict[str, LinearClassifier] | None:
    """The shipped classifiers, or None when they are missing or were trained on other data or settings."""
    try:
        with np.load(weights_path(name)) as data:
            if str(data["digest"]) != stamp:
                return None
            return {k: LinearClassifier(featuriser=featuriser, weights=data[k].astype(np.float32),
                                        bias=float(data[f"{k}_bias"])) for k in keys}
    except (OSError, KeyError, ValueError):
        return None


def train(rows: Rows, featuriser: Featuriser, settings: dict[str, float]) -> LinearClassifier:
    model = LinearClassifier(featuriser=featuriser)
    model.fit([t for t, _ in rows], [y for _, y in rows], l2=settings["l2"], epochs=int(settings["epochs"]),
              positive_weight=settings["positive_weight"])
    return model


def load_or_train(name: str, named_rows: dict[str, Rows], featuriser: Featuriser,
                  settings: dict[str, float]) -> dict[str, LinearClassifier]:
    stamp = digest(named_rows, featuriser, settings)
    models = load(name, list(named_rows), featuriser, stamp)
    if models is None:
        started = time.perf_counter()
        models = {k: train(rows, featuriser, settings) for k, rows in named_rows.items()}
        log.warning("the shipped %s weights are missing or stale; trained in %.1f s (run `python -m "
                    "bot.language.train` to ship fresh ones)", name, time.perf_counter() - started)
    return models


def retrain_and_save(name: str, named_rows: dict[str, Rows], featuriser: Featuriser,
                     settings: dict[str, float]) -> Path:
    models = {k: train(rows, featuriser, settings) for k, rows in named_rows.items()}
    return save(name, models, digest(named_rows, featuriser, settings))
