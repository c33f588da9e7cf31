"""Turn a batch of Kafka records into model input: decode, fetch references, fill one
preallocated float32 array. Poison records come back with their reason, never dropped.

Anything raised while decoding, fetching or converting ONE record makes that record poison;
only an unreachable store (``image_source.UNAVAILABLE``) fails the batch, to be retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from arena.bus.records import KafkaMessage
from arena.errors import InvalidEvent, reason_of
from arena.events import ImageEvent, decode_image_event
from arena.image_source import ImageSource
from arena.images import DecodeLimits, F32Images, PixelBudget, decode_into


@dataclass(slots=True)
class DecodedBatch:
    """The good events of a batch with their images, and the poison records with reasons."""

    events: list[ImageEvent] = field(default_factory=list)
    records: list[KafkaMessage] = field(default_factory=list)
    images: F32Images = field(default_factory=lambda: np.zeros((0, 0, 0), np.float32))
    dead: list[tuple[KafkaMessage, str]] = field(default_factory=list)


class BatchDecoder:
    """Decodes records straight into a reusable ``[capacity, H, W]`` float32 buffer."""

    def __init__(
        self,
        input_shape: tuple[int, int],
        capacity: int,
        source: ImageSource,
        limits: DecodeLimits = DecodeLimits(),  # noqa: B008 - frozen, immutable
    ) -> None:
        self._buffer = np.zeros((capacity, *input_shape), dtype=np.float32)
        self._source = source
        self._limits = limits

    def decode(self, records: Sequence[KafkaMessage]) -> DecodedBatch:
        """Decode every record; the returned images are a view valid until the next call."""
        if len(records) > len(self._buffer):
            self._buffer = np.zeros((len(records), *self._buffer.shape[1:]), dtype=np.float32)
        batch = DecodedBatch()
        parsed: list[tuple[KafkaMessage, ImageEvent]] = []
        for record in records:
            try:
                parsed.append((record, decode_image_event(record.value())))
            except InvalidEvent as exc:
                batch.dead.append((record, exc.reason))
            except Exception as exc:
                batch.dead.append((record, f"image event: {reason_of(exc)}"))
        payloads = self._source.payloads([event for _, event in parsed])
        budget = PixelBudget(self._limits.max_batch_pixels)
        n = 0
        for (record, event), payload in zip(parsed, payloads, strict=True):
            if isinstance(payload, InvalidEvent):
                batch.dead.append((record, payload.reason))
                continue
            try:
                decode_into(event, payload, self._buffer[n], limits=self._limits, budget=budget)
            except InvalidEvent as exc:
                batch.dead.append((record, exc.reason))
                continue
            except Exception as exc:
                batch.dead.append((record, f"image {event.event_id}: {reason_of(exc)}"))
                continue
            batch.events.append(event)
            batch.records.append(record)
            n += 1
        batch.images = self._buffer[:n]
        return batch
