"""Join images with their labels by event id, whichever arrives first.

Labels come inline in the ImageEvent or late on the label topic. Both sides wait in bounded,
insertion-ordered maps; the oldest entries expire after a TTL or are evicted under capacity
pressure. Nothing is dropped silently: every expired label is counted and its id remembered.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from numpy.typing import NDArray

Clock = Callable[[], float]
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True, order=True)
class EventPosition:
    """Where an event sits in Kafka: the unit of training lineage."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True, eq=False)
class LabeledExample:
    """An image with its true label and its Kafka position."""

    event_id: str
    position: EventPosition
    image: NDArray[Any]
    label: int


@dataclass(slots=True)
class JoinStats:
    """Counters of a LabelJoiner; the ``*_waiting`` fields are gauges taken at snapshot time."""

    joined: int = 0
    inline: int = 0
    late_joined: int = 0
    labels_waiting: int = 0
    images_waiting: int = 0
    labels_expired: int = 0
    images_expired_unlabeled: int = 0
    evicted: int = 0
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class _PendingImage:
    at: float
    position: EventPosition
    image: NDArray[Any]


@dataclass(frozen=True, slots=True)
class _PendingLabel:
    at: float
    label: int
    position: EventPosition | None


class LabelJoiner:
    """Joins images and labels by event id, in either arrival order.

    Args:
        ttl_s: how long an unmatched image or label waits before ``expire()`` drops it.
        capacity: most pending images, and separately most pending labels; beyond that the
            oldest is evicted (counted as expired).
        clock: monotonic seconds; injectable for tests.
        keep_expired_ids: how many ids of expired labels to keep for inspection.
    """

    def __init__(
        self,
        ttl_s: float,
        capacity: int,
        clock: Clock = time.monotonic,
        keep_expired_ids: int = 100,
    ) -> None:
        if ttl_s <= 0 or capacity < 1:
            raise ValueError("ttl_s must be > 0 and capacity >= 1")
        self._ttl = ttl_s
        self._capacity = capacity
        self._clock = clock
        self._images: OrderedDict[str, _PendingImage] = OrderedDict()
        self._labels: OrderedDict[str, _PendingLabel] = OrderedDict()
        # Ids already joined, so a redelivered image or label is a duplicate, not a new wait.
        # Bounded like the pending maps: a very late redelivery is then treated as new.
        self._done: OrderedDict[str, float] = OrderedDict()
        self._stats = JoinStats()
        self._expired_label_ids: deque[str] = deque(maxlen=keep_expired_ids)

    @property
    def stats(self) -> JoinStats:
        """A snapshot of the counters."""
        return replace(
            self._stats, labels_waiting=len(self._labels), images_waiting=len(self._images)
        )

    @property
    def expired_label_ids(self) -> list[str]:
        """The most recent ids of labels that expired without their image, oldest first."""
        return list(self._expired_label_ids)

    def add_image(
        self, event_id: str, position: EventPosition, image: NDArray[Any], label: int | None
    ) -> LabeledExample | None:
        """Add an image; return the labeled example if its label is inline or already here."""
        if event_id in self._done or event_id in self._images:
            self._stats.duplicates += 1
            return None
        now = self._clock()
        if label is not None:
            if self._labels.pop(event_id, None) is not None:
                self._stats.duplicates += 1  # the label topic repeated an inline label
            self._stats.inline += 1
            return self._join(event_id, position, image, label, now)
        waiting = self._labels.pop(event_id, None)
        if waiting is not None:
            self._stats.late_joined += 1
            return self._join(event_id, position, image, waiting.label, now)
        self._images[event_id] = _PendingImage(now, position, image)
        self._evict_over_capacity()
        return None

    def add_label(
        self, event_id: str, label: int, position: EventPosition | None = None
    ) -> LabeledExample | None:
        """Add a late label; return the labeled example if its image is already here.

        ``position`` is the label record's own, so ``pending_floor`` can keep it uncommitted
        while it waits.
        """
        if event_id in self._done or event_id in self._labels:
            self._stats.duplicates += 1
            return None
        now = self._clock()
        pending = self._images.pop(event_id, None)
        if pending is not None:
            self._stats.late_joined += 1
            return self._join(event_id, pending.position, pending.image, label, now)
        self._labels[event_id] = _PendingLabel(now, label, position)
        self._evict_over_capacity()
        return None

    def expire(self) -> None:
        """Drop entries older than the TTL, counting them; call this from the service loop."""
        deadline = self._clock() - self._ttl
        for event_id in _pop_older(self._labels, deadline, lambda v: v.at):
            self._label_lost(event_id)
        lost_images = _pop_older(self._images, deadline, lambda v: v.at)
        self._stats.images_expired_unlabeled += len(lost_images)
        _pop_older(self._done, deadline, lambda at: at)

    def pending_floor(self) -> dict[tuple[str, int], int]:
        """Per (topic, partition), the smallest offset of a record still waiting to be joined.

        A consumer that commits no further than this loses no labeled example at a crash:
        the waiting images and labels are read again after a restart.
        """
        floor: dict[tuple[str, int], int] = {}
        positions = [p.position for p in self._images.values()]
        positions += [p.position for p in self._labels.values() if p.position is not None]
        for pos in positions:
            key = (pos.topic, pos.partition)
            if pos.offset < floor.get(key, pos.offset + 1):
                floor[key] = pos.offset
        return floor

    def _join(
        self, event_id: str, position: EventPosition, image: NDArray[Any], label: int, now: float
    ) -> LabeledExample:
        self._stats.joined += 1
        self._done[event_id] = now
        if len(self._done) > self._capacity:
            self._done.popitem(last=False)
        return LabeledExample(event_id, position, image, label)

    def _evict_over_capacity(self) -> None:
        while len(self._labels) > self._capacity:
            event_id, _ = self._labels.popitem(last=False)
            self._stats.evicted += 1
            self._label_lost(event_id)
        while len(self._images) > self._capacity:
            self._images.popitem(last=False)
            self._stats.evicted += 1
            self._stats.images_expired_unlabeled += 1

    def _label_lost(self, event_id: str) -> None:
        self._stats.labels_expired += 1
        self._expired_label_ids.append(event_id)


def _pop_older(
    entries: OrderedDict[str, _V], deadline: float, at: Callable[[_V], float]
) -> list[str]:
    """Pop entries added at or before ``deadline``; insertion order is time order."""
    popped = []
    while entries:
        key, value = next(iter(entries.items()))
        if at(value) > deadline:
            break
        entries.popitem(last=False)
        popped.append(key)
    return popped
