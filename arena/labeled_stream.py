"""Images and labels from Kafka → labeled examples, joined by event id.

The trainer and the evaluator both read the image and label topics this way; only what
they do with the examples differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from arena.bus.records import KafkaMessage
from arena.config import Settings
from arena.errors import InvalidEvent, reason_of
from arena.events import check_label, decode_label_event
from arena.flavors import INPUT_SHAPE, N_CLASSES
from arena.image_batch import BatchDecoder
from arena.image_source import ImageSource, ObjectReader
from arena.images import DecodeLimits
from arena.join import EventPosition, LabeledExample, LabelJoiner


def position_of(record: KafkaMessage) -> EventPosition:
    return EventPosition(
        str(record.topic()), int(record.partition() or 0), int(record.offset() or 0)
    )


@dataclass
class Ingested:
    """What one batch of records gave: joined examples, malformed labels, and every image
    decoded (labeled or not, in record order) with its position, for the drift detectors
    and shadow scoring. ``images`` is a view valid until the next ``ingest``: copy to keep."""

    examples: list[LabeledExample] = field(default_factory=list)
    bad_labels: list[tuple[KafkaMessage, str]] = field(default_factory=list)
    images: NDArray[np.float32] = field(
        default_factory=lambda: np.empty((0, *INPUT_SHAPE), np.float32)
    )
    image_positions: list[EventPosition] = field(default_factory=list)


class LabeledStream:
    """Decodes image records, joins them with label records, expires what waited too long.

    Poison images are not reported here: the scorer dead-letters them, and doing it here
    too would put each one in the DLQ several times. Malformed labels are returned, so
    exactly one reader (the trainer) dead-letters them. A label is malformed unless it is
    an integer naming one of the model's ``n_classes`` classes; that holds for a label
    record and for an image's inline label (the image then joins as if unlabeled, and is
    returned too: the scorer scores it, so nothing else dead-letters it).
    """

    def __init__(
        self,
        image_topic: str,
        decoder: BatchDecoder,
        joiner: LabelJoiner,
        n_classes: int = N_CLASSES,
    ) -> None:
        self._image_topic = image_topic
        self._decoder = decoder
        self.joiner = joiner
        self._n_classes = n_classes

    def ingest(self, records: Sequence[KafkaMessage]) -> Ingested:
        out = Ingested()
        images = [r for r in records if r.topic() == self._image_topic]
        batch = self._decoder.decode(images)
        out.images = np.asarray(batch.images, dtype=np.float32)
        out.image_positions = [position_of(r) for r in batch.records]
        for event, record, image in zip(batch.events, batch.records, batch.images, strict=True):
            inline = event.label
            if inline is not None:
                try:
                    check_label(inline, self._n_classes, f"image {event.event_id}: inline label")
                except InvalidEvent as exc:
                    out.bad_labels.append((record, exc.reason))
                    inline = None
            example = self.joiner.add_image(
                event.event_id, position_of(record), image.copy(), inline
            )
            if example is not None:
                out.examples.append(example)
        for record in records:
            if record.topic() == self._image_topic:
                continue
            try:
                label = decode_label_event(record.value(), n_classes=self._n_classes)
            except Exception as exc:  # anything a label record can make decoding raise
                out.bad_labels.append((record, _label_reason(exc)))
                continue
            example = self.joiner.add_label(label.event_id, label.label, position_of(record))
            if example is not None:
                out.examples.append(example)
        self.joiner.expire()
        return out


def _label_reason(exc: Exception) -> str:
    return exc.reason if isinstance(exc, InvalidEvent) else f"label event: {reason_of(exc)}"


def open_labeled_stream(
    settings: Settings,
    objects: ObjectReader,
    joiner: LabelJoiner,
    resources: ExitStack,
    batch_capacity: int,
) -> LabeledStream:
    """A LabeledStream over the settings' topics; its fetch threads close with ``resources``."""
    source = ImageSource.from_settings(objects, settings)
    resources.callback(source.close)
    decoder = BatchDecoder(
        INPUT_SHAPE, batch_capacity, source, DecodeLimits.from_settings(settings.images)
    )
    return LabeledStream(settings.kafka.image_topic, decoder, joiner)
