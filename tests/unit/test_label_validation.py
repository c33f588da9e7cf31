"""Labels the model cannot learn are refused by the labeled stream, whatever shape they come in."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from arena.events import ContentType, ImageEvent, LabelEvent, encode_image_event, encode_label_event
from arena.flavors import INPUT_SHAPE
from arena.image_batch import BatchDecoder
from arena.image_source import ImageSource
from arena.join import LabelJoiner
from arena.labeled_stream import LabeledStream
from tests.unit.bus.fakes import FakeMessage

IMAGES, LABELS = "arena.images", "arena.labels"


@pytest.fixture
def stream() -> Iterator[LabeledStream]:
    source = ImageSource(None, None, threads=1)
    yield LabeledStream(IMAGES, BatchDecoder(INPUT_SHAPE, 8, source), LabelJoiner(60, 100))
    source.close()


def image(event_id: str, offset: int, label: int | None = None) -> FakeMessage:
    event = ImageEvent(
        event_id, 0, "t", ContentType.RAW_GRAY8, bytes(784), label=label, height=28, width=28
    )
    return FakeMessage(IMAGES, 0, offset, event_id.encode(), encode_image_event(event))


def label(offset: int, **fields: object) -> FakeMessage:
    doc = {"schema": "label/1", "event_id": "e", "label": 1, "timestamp_ms": 1, **fields}
    return FakeMessage(LABELS, 0, offset, b"e", json.dumps(doc).encode())


@pytest.mark.parametrize(
    "fields",
    [
        {"event_id": 12},
        {"label": 10},
        {"label": 2**63},
        {"label": True},
        {"label": 1.0},
        {"label": float("nan")},
    ],
)
def test_a_malformed_label_is_reported_and_never_joined(
    stream: LabeledStream, fields: dict[str, object]
) -> None:
    bad = label(0, **fields)

    ingested = stream.ingest([image("e", 0), bad])

    assert ingested.examples == []
    assert [record for record, _ in ingested.bad_labels] == [bad]
    assert ingested.bad_labels[0][1].startswith("label")


def test_a_good_label_still_joins_after_a_bad_one(stream: LabeledStream) -> None:
    good = FakeMessage(LABELS, 0, 1, b"e", encode_label_event(LabelEvent("e", 9, 1)))

    ingested = stream.ingest([image("e", 0), label(0, label=10), good])

    assert [(x.event_id, x.label) for x in ingested.examples] == [("e", 9)]
    assert len(ingested.bad_labels) == 1


def test_an_inline_label_outside_the_classes_is_reported_and_the_image_stays_unlabeled(
    stream: LabeledStream,
) -> None:
    record = image("e", 0, label=42)

    ingested = stream.ingest([record])

    assert ingested.examples == []
    [(reported, reason)] = ingested.bad_labels
    assert reported is record
    assert "inline label 42" in reason
    # The image still waits for a label the model can learn.
    later = stream.ingest(
        [FakeMessage(LABELS, 0, 0, b"e", encode_label_event(LabelEvent("e", 4, 1)))]
    )
    assert [(x.event_id, x.label) for x in later.examples] == [("e", 4)]


def test_an_inline_label_inside_the_classes_joins(stream: LabeledStream) -> None:
    ingested = stream.ingest([image("e", 0, label=9)])

    assert [(x.event_id, x.label) for x in ingested.examples] == [("e", 9)]
    assert ingested.bad_labels == []
