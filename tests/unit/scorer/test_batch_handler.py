"""The scorer's batch handler with a real decoder over inline images and a fixed model."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from PIL import Image

from arena.events import ContentType, ImageEvent, decode_prediction, encode_image_event
from arena.image_batch import BatchDecoder
from arena.image_source import ImageSource
from scorer.batch_handler import BatchScorer
from scorer.champion import ChampionHolder
from storage.model_loader import LoadedModel
from tests.unit.bus.fakes import FakeMessage


class ConstantModel:
    """Always predicts ``label``; records the batch sizes it was called with."""

    input_shape = (2, 2)
    n_classes = 3

    def __init__(self, label: int) -> None:
        self.label = label
        self.calls: list[int] = []

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        self.calls.append(len(images))
        proba = np.full((len(images), 3), 0.1, np.float32)
        proba[:, self.label] = 0.8
        return proba


def loaded(version: int, label: int) -> LoadedModel:
    return LoadedModel(version, "fixed", f"{version:064d}", ConstantModel(label))  # type: ignore[arg-type]


def image_message(offset: int, *, good: bool = True) -> FakeMessage:
    event = ImageEvent(
        f"ev-{offset}", 1_000 + offset, "cam", ContentType.RAW_GRAY8, bytes(4), height=2, width=2
    )
    value = encode_image_event(event) if good else b"\x00garbage"
    return FakeMessage("images", 0, offset, value_=value)


@pytest.fixture
def source() -> Iterator[ImageSource]:
    src = ImageSource(None, None, threads=1)  # inline images only: no object store
    yield src
    src.close()


@pytest.fixture
def holder() -> ChampionHolder:
    h = ChampionHolder()
    h.stage(loaded(1, label=0))
    return h


def quiet_scorer(
    holder: ChampionHolder,
    source: ImageSource,
    on_unhealthy: Callable[[LoadedModel, str], None] = lambda model, reason: None,
) -> BatchScorer:
    """A scorer over ``source`` that reports swaps and latencies to no one."""
    return BatchScorer(
        holder,
        BatchDecoder((2, 2), 8, source),
        "predictions",
        top_k=2,
        scorer_id="s-1",
        on_swap=lambda model, retired: None,
        on_latency_ms=lambda ms: None,
        on_unhealthy=on_unhealthy,
    )


def make_scorer(holder: ChampionHolder, source: ImageSource) -> tuple[BatchScorer, list, list]:
    swaps: list[tuple[int, bool]] = []
    latencies: list[float] = []
    scorer = BatchScorer(
        holder,
        BatchDecoder((2, 2), 8, source),
        "predictions",
        top_k=2,
        scorer_id="s-1",
        on_swap=lambda model, retired: swaps.append((model.version, retired)),
        on_latency_ms=latencies.append,
    )
    return scorer, swaps, latencies


def test_every_good_event_gets_one_prediction_keyed_by_its_id(
    holder: ChampionHolder, source: ImageSource
) -> None:
    scorer, _, latencies = make_scorer(holder, source)
    result = scorer([image_message(i) for i in range(5)])
    assert [r.key for r in result.outputs] == [f"ev-{i}".encode() for i in range(5)]
    assert {r.topic for r in result.outputs} == {"predictions"}
    predictions = [decode_prediction(r.value) for r in result.outputs]
    assert all(p.model_version == 1 and p.label == 0 for p in predictions)
    assert len(latencies) == 5 and not result.dead


def test_poison_records_come_back_with_a_reason_and_the_rest_is_scored(
    holder: ChampionHolder, source: ImageSource
) -> None:
    scorer, _, _ = make_scorer(holder, source)
    batch = [image_message(0), image_message(1, good=False), image_message(2)]
    result = scorer(batch)
    assert [r.key for r in result.outputs] == [b"ev-0", b"ev-2"]
    assert len(result.dead) == 1
    dead, reason = result.dead[0]
    assert dead is batch[1] and reason


def test_a_staged_model_is_swapped_in_before_a_batch_never_during_one(
    holder: ChampionHolder, source: ImageSource
) -> None:
    scorer, swaps, _ = make_scorer(holder, source)
    first = scorer([image_message(0), image_message(1)])
    holder.stage(loaded(2, label=1))
    assert swaps == [], "staging alone never changes the served model"
    second = scorer([image_message(2), image_message(3)])
    assert {decode_prediction(r.value).model_version for r in first.outputs} == {1}
    assert {decode_prediction(r.value).model_version for r in second.outputs} == {2}
    assert {decode_prediction(r.value).label for r in second.outputs} == {1}
    assert swaps == [(2, True)]


def test_swap_while_idle(holder: ChampionHolder, source: ImageSource) -> None:
    scorer, swaps, _ = make_scorer(holder, source)
    assert scorer.swap_if_staged() is False
    holder.stage(loaded(3, label=2))
    assert scorer.swap_if_staged() is True and holder.current is not None
    assert holder.current.version == 3 and swaps == [(3, True)]


def test_scoring_before_a_first_model_is_an_error(source: ImageSource) -> None:
    scorer, _, _ = make_scorer(ChampionHolder(), source)
    with pytest.raises(RuntimeError, match="before a first model"):
        scorer([image_message(0)])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_outputs_dead_letter_the_batch_and_report_the_model(
    source: ImageSource, bad: float
) -> None:
    class Bad(ConstantModel):
        def predict_proba(self, images: np.ndarray) -> np.ndarray:
            proba = super().predict_proba(images)
            proba[len(images) // 2, 1] = bad
            return proba

    holder = ChampionHolder()
    holder.stage(LoadedModel(4, "fixed", "0" * 64, Bad(0)))  # type: ignore[arg-type]
    unhealthy: list[tuple[int, str]] = []
    scorer = quiet_scorer(
        holder, source, on_unhealthy=lambda model, reason: unhealthy.append((model.version, reason))
    )
    batch = [image_message(0), image_message(1, good=False), image_message(2)]
    result = scorer(batch)
    assert result.outputs == [], "no prediction is written from a non-finite output"
    assert [record for record, _ in result.dead] == [batch[1], batch[0], batch[2]]
    assert "model version 4 output non-finite probabilities" in result.dead[1][1]
    assert unhealthy and unhealthy[0][0] == 4


class StoreOpenedByTheModel:
    """A store whose reads wait until the model has been called: a scorer that fetched the
    references before predicting anything would wait for it in vain."""

    def __init__(self) -> None:
        self.model_called = threading.Event()

    def read_object(self, bucket: str, key: str) -> bytes:
        if not self.model_called.wait(5):
            raise TimeoutError("the references were awaited before the inline images were scored")
        out = io.BytesIO()
        Image.fromarray(np.zeros((2, 2), np.uint8)).save(out, format="PNG")
        return out.getvalue()

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        return self.read_object(bucket, key)


def reference_message(offset: int) -> FakeMessage:
    event = ImageEvent(
        f"ref-{offset}", 1_000, "cam", ContentType.PNG, reference=f"s3://images/{offset}.png"
    )
    return FakeMessage("images", 0, offset, value_=encode_image_event(event))


def test_inline_images_are_scored_while_the_references_are_fetched() -> None:
    store = StoreOpenedByTheModel()

    class Signalling(ConstantModel):
        def predict_proba(self, images: np.ndarray) -> np.ndarray:
            store.model_called.set()
            return super().predict_proba(images)

    model = Signalling(0)
    holder = ChampionHolder()
    holder.stage(LoadedModel(1, "fixed", "0" * 64, model))  # type: ignore[arg-type]
    source = ImageSource(store, None, threads=2)
    try:
        scorer = quiet_scorer(holder, source)
        batch = [reference_message(0), image_message(1), reference_message(2), image_message(3)]

        result = scorer(batch)
    finally:
        source.close()

    assert model.calls == [2, 2], "the inline pair first, then the referenced pair"
    assert sorted(r.key for r in result.outputs) == [b"ev-1", b"ev-3", b"ref-0", b"ref-2"]
    assert not result.dead
