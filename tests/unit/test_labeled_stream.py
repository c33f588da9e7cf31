"""Images and labels from one batch of records to joined examples (real decoder, inline images)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from arena.events import (
    ContentType,
    ImageEvent,
    LabelEvent,
    encode_image_event,
    encode_label_event,
)
from arena.image_batch import BatchDecoder
from arena.image_source import ImageSource
from arena.join import LabelJoiner
from arena.labeled_stream import LabeledStream
from tests.unit.bus.fakes import FakeMessage

IMAGES, LABELS = "images", "labels"


def image(offset: int, *, label: int | None = None, pixel: int = 0) -> FakeMessage:
    event = ImageEvent(
        f"ev-{offset}",
        1_000,
        "cam",
        ContentType.RAW_GRAY8,
        bytes([pixel] * 4),
        height=2,
        width=2,
        label=label,
    )
    return FakeMessage(IMAGES, 1, offset, value_=encode_image_event(event))


def label(offset: int, of: int, value: int) -> FakeMessage:
    return FakeMessage(
        LABELS, 0, offset, value_=encode_label_event(LabelEvent(f"ev-{of}", value, 2_000))
    )


@pytest.fixture
def stream() -> Iterator[LabeledStream]:
    source = ImageSource(None, None, threads=1)
    yield LabeledStream(IMAGES, BatchDecoder((2, 2), 16, source), LabelJoiner(60.0, 100))
    source.close()


def test_a_label_in_the_same_batch_joins_its_image(stream: LabeledStream) -> None:
    out = stream.ingest([image(5, pixel=255), label(0, of=5, value=7)])
    assert [(e.event_id, e.label) for e in out.examples] == [("ev-5", 7)]
    example = out.examples[0]
    assert (example.position.topic, example.position.partition, example.position.offset) == (
        IMAGES,
        1,
        5,
    )
    assert example.image.shape == (2, 2) and np.all(example.image == 1.0)


def test_late_and_early_labels_join_across_batches(stream: LabeledStream) -> None:
    assert stream.ingest([image(1), label(0, of=2, value=3)]).examples == []
    late = stream.ingest([label(1, of=1, value=4)])
    early = stream.ingest([image(2)])
    assert [(e.event_id, e.label) for e in late.examples] == [("ev-1", 4)]
    assert [(e.event_id, e.label) for e in early.examples] == [("ev-2", 3)]


def test_images_kept_are_copies_not_views_of_the_reused_buffer(stream: LabeledStream) -> None:
    stream.ingest([image(1, pixel=255)])
    stream.ingest([image(2, pixel=0)])  # decoded into the same buffer row
    out = stream.ingest([label(0, of=1, value=1)])
    assert np.all(out.examples[0].image == 1.0)


def test_an_image_carrying_its_label_needs_no_label_event(stream: LabeledStream) -> None:
    out = stream.ingest([image(9, label=2)])
    assert [(e.event_id, e.label) for e in out.examples] == [("ev-9", 2)]


def test_malformed_labels_are_returned_for_the_dlq_and_never_joined(
    stream: LabeledStream,
) -> None:
    bad = FakeMessage(LABELS, 0, 3, value_=b"{not json")
    out = stream.ingest([image(1), bad])
    assert out.examples == []
    assert len(out.bad_labels) == 1 and out.bad_labels[0][0] is bad and out.bad_labels[0][1]


def test_poison_images_are_skipped_not_reported(stream: LabeledStream) -> None:
    """The scorer dead-letters poison images; the readers of labels must not do it again."""
    poison = FakeMessage(IMAGES, 0, 4, value_=b"\x00garbage")
    out = stream.ingest([poison, label(0, of=4, value=1)])
    assert out.examples == [] and out.bad_labels == []
