"""Turn a batch of Kafka records into model input: decode, fetch references, fill one
preallocated float32 array. Poison records come back with their reason, never dropped.

Anything raised while decoding, fetching or converting ONE record makes that record poison;
only an unreachable store (``image_source.UNAVAILABLE``) fails the batch, to be retried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from arena.bus.records import KafkaMessage
from arena.errors import InvalidEvent, reason_of
from arena.events import ImageEvent, decode_image_event
from arena.image_source import ImageSource
from arena.images import DecodeLimits, F32Images, PixelBudget, decode_into

_Parsed = list[tuple[KafkaMessage, ImageEvent]]


@dataclass(slots=True)
class DecodedBatch:
    """The good events of a batch with their images, and the poison records with reasons."""

    events: list[ImageEvent] = field(default_factory=list)
    records: list[KafkaMessage] = field(default_factory=list)
    images: F32Images = field(default_factory=lambda: np.zeros((0, 0, 0), np.float32))
    dead: list[tuple[KafkaMessage, str]] = field(default_factory=list)


class PendingReferences:
    """The referenced images of a batch still being fetched (see ``BatchDecoder.start``)."""

    def __init__(self, finish: Callable[[], DecodedBatch]) -> None:
        self._finish = finish

    def finish(self) -> DecodedBatch:
        """Wait for the fetches and decode them: the referenced images, in their order, and
        the ones that are poison. Raises what ``ImageSource.payloads`` raises."""
        return self._finish()


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
        """Decode every record, in order; the images are a view valid until the next call."""
        batch, parsed = self._parse(records)
        payloads = self._source.payloads([event for _, event in parsed])
        self._fill(batch, parsed, payloads, PixelBudget(self._limits.max_batch_pixels), 0)
        return batch

    def start(self, records: Sequence[KafkaMessage]) -> tuple[DecodedBatch, PendingReferences]:
        """Decode the inline images now and start fetching the referenced ones.

        Returns the inline events (in their order, with the poison records found so far) and
        the references still in flight: a caller predicts the first while the second are
        read, and a store's latency is hidden behind the model. Both views are valid until
        the next call. The batch's decode budget is charged inline images first.
        """
        batch, parsed = self._parse(records)
        inline = [(r, e) for r, e in parsed if e.reference is None]
        referenced = [(r, e) for r, e in parsed if e.reference is not None]
        budget = PixelBudget(self._limits.max_batch_pixels)
        self._fill(batch, inline, self._source.payloads([e for _, e in inline]), budget, 0)
        if not referenced:
            return batch, PendingReferences(DecodedBatch)
        fetching = self._source.start([e for _, e in referenced])
        offset = len(batch.events)

        def finish() -> DecodedBatch:
            rest = DecodedBatch()
            self._fill(rest, referenced, fetching(), budget, offset)
            return rest

        return batch, PendingReferences(finish)

    def _parse(self, records: Sequence[KafkaMessage]) -> tuple[DecodedBatch, _Parsed]:
        if len(records) > len(self._buffer):
            self._buffer = np.zeros((len(records), *self._buffer.shape[1:]), dtype=np.float32)
        batch = DecodedBatch()
        parsed: _Parsed = []
        for record in records:
            try:
                parsed.append((record, decode_image_event(record.value())))
            except InvalidEvent as exc:
                batch.dead.append((record, exc.reason))
            except Exception as exc:
                batch.dead.append((record, f"image event: {reason_of(exc)}"))
        return batch, parsed

    def _fill(
        self,
        batch: DecodedBatch,
        parsed: _Parsed,
        payloads: Sequence[bytes | InvalidEvent],
        budget: PixelBudget,
        offset: int,
    ) -> None:
        """Decode into the buffer from row ``offset`` on; ``batch.images`` views those rows."""
        n = offset
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
        batch.images = self._buffer[offset:n]
