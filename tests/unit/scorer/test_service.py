from __future__ import annotations

import numpy as np

from arena.events import ContentType, ImageEvent, decode_prediction, encode_prediction
from arena.image_batch import DecodedBatch
from scorer.champion import ChampionHolder
from scorer.service import predict_batch, top_k
from storage.model_loader import LoadedModel


class FixedModel:
    """A stand-in flavor whose probabilities are given (pure-logic test only)."""

    name = "fixed"
    default_learning_rate = 0.0
    input_shape = (2, 2)
    n_classes = 4

    def __init__(self, proba: np.ndarray) -> None:
        self.proba = proba.astype(np.float32)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return self.proba[: len(images)]


def _batch(n: int) -> DecodedBatch:
    events = [
        ImageEvent(
            f'id-{i}"quoted', 1_000 + i, "cam", ContentType.RAW_GRAY8, bytes(4), height=2, width=2
        )
        for i in range(n)
    ]
    return DecodedBatch(events=events, records=[], images=np.zeros((n, 2, 2), np.float32))


PROBA = np.array([[0.1, 0.6, 0.2, 0.1], [0.7, 0.1, 0.05, 0.15], [0.25, 0.15, 0.4, 0.2]])


def test_top_k_is_sorted_best_first() -> None:
    classes, probs = top_k(PROBA, 2)
    assert classes.tolist() == [[1, 2], [0, 3], [2, 0]]
    assert np.all(probs[:, 0] >= probs[:, 1])


def test_encoded_hot_path_matches_the_event_contract_byte_for_byte() -> None:
    serving = LoadedModel(7, "fixed", "a" * 64, FixedModel(PROBA))  # type: ignore[arg-type]
    batch = _batch(3)
    values, latencies = predict_batch(batch, serving, 2, "scorer-x")

    decoded = [decode_prediction(v) for v in values]
    assert [p.event_id for p in decoded] == [e.event_id for e in batch.events]
    assert [p.label for p in decoded] == [1, 0, 2]
    assert [p.top_k for p in decoded] == [
        [(1, 0.6), (2, 0.2)],
        [(0, 0.7), (3, 0.15)],
        [(2, 0.4), (0, 0.25)],
    ]
    assert all(p.model_version == 7 and p.scorer_id == "scorer-x" for p in decoded)
    assert [p.event_timestamp_ms for p in decoded] == [1_000, 1_001, 1_002]
    # Same bytes as the reference encoder of the contract, given the same fields.
    for value, p in zip(values, decoded, strict=True):
        assert value == encode_prediction(p)
    assert latencies == [p.latency_ms for p in decoded]


def test_champion_holder_swaps_only_between_batches() -> None:
    holder = ChampionHolder()
    first = LoadedModel(1, "fixed", "a" * 64, FixedModel(PROBA))  # type: ignore[arg-type]
    second = LoadedModel(2, "fixed", "b" * 64, FixedModel(PROBA))  # type: ignore[arg-type]
    holder.stage(first)
    assert holder.current is first and holder.wait_ready(0)
    holder.stage(second)
    assert holder.current is first, "staging never changes the model mid-batch"
    assert holder.wanted_version() == 2
    previous, new = holder.swap_if_staged()
    assert (previous, new) == (first, second) and holder.current is second
    assert holder.swap_if_staged() == (None, None)
