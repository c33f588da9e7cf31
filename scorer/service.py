"""The scorer's pure logic: a decoded batch and a model in, predictions out."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt

from arena.events import Prediction, now_ms
from arena.image_batch import DecodedBatch
from scorer.champion import ServingModel


def top_k(proba: npt.NDArray[Any], k: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """The k most probable classes of each row (best first) and their probabilities."""
    k = min(k, proba.shape[1])
    idx = np.argpartition(-proba, k - 1, axis=1)[:, :k]
    rows = np.arange(proba.shape[0])[:, None]
    order = np.argsort(-proba[rows, idx], axis=1)
    idx = idx[rows, order]
    return idx, proba[rows, idx]


def score_batch(
    batch: DecodedBatch, serving: ServingModel, k: int, scorer_id: str
) -> list[Prediction]:
    """Predict every event of the batch with one compiled call; latency is event-to-prediction."""
    if not batch.events:
        return []
    proba = serving.model.predict_proba(batch.images)
    classes, probs = top_k(proba, k)
    done_ms = now_ms()
    class_rows = classes.tolist()
    prob_rows = np.round(probs.astype(np.float64), 5).tolist()
    return [
        Prediction(
            event_id=event.event_id,
            model_version=serving.version,
            label=cls[0],
            top_k=list(zip(cls, pr, strict=True)),
            latency_ms=float(done_ms - event.timestamp_ms),
            event_timestamp_ms=event.timestamp_ms,
            scorer_id=scorer_id,
        )
        for event, cls, pr in zip(batch.events, class_rows, prob_rows, strict=True)
    ]


def monotonic_ms() -> float:
    return time.monotonic() * 1000.0
