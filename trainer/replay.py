"""The replay buffer a challenger fine-tunes on, and the lineage it records.

A window of the most recent labeled examples keeps the model current; a reservoir sample
(Algorithm R) of the examples that fell out of the window keeps it from forgetting the past.

Lineage must be exact: the registry records the offset ranges a version trained on and the
evaluator only scores a version on events outside them. The reservoir holds scattered old
offsets, so the ranges of a training set are computed from that set itself
(``TrainingSet.ranges``), never from "everything since the last fine-tune".
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from arena.drift import Detection
from arena.join import EventPosition, LabeledExample
from storage.domain import OffsetRange


class TrainingLineage:
    """Accumulates event positions into minimal contiguous per-partition offset ranges.

    Adjacent and repeated offsets merge; gaps stay gaps.
    """

    def __init__(self, positions: Iterable[EventPosition] = ()) -> None:
        # Per (topic, partition): sorted, disjoint, non-adjacent [first, last] intervals.
        self._starts: dict[tuple[str, int], list[int]] = {}
        self._ends: dict[tuple[str, int], list[int]] = {}
        for p in positions:
            self.add(p)

    def add(self, position: EventPosition) -> None:
        """Record one position, merging it with its neighbours."""
        key = (position.topic, position.partition)
        starts = self._starts.setdefault(key, [])
        ends = self._ends.setdefault(key, [])
        off = position.offset
        i = bisect_right(starts, off) - 1  # the interval starting at or before off
        if i >= 0 and ends[i] >= off:
            return
        joins_left = i >= 0 and ends[i] == off - 1
        joins_right = i + 1 < len(starts) and starts[i + 1] == off + 1
        if joins_left and joins_right:
            ends[i] = ends[i + 1]
            del starts[i + 1], ends[i + 1]
        elif joins_left:
            ends[i] = off
        elif joins_right:
            starts[i + 1] = off
        else:
            starts.insert(i + 1, off)
            ends.insert(i + 1, off)

    def ranges(self) -> tuple[OffsetRange, ...]:
        """The ranges, sorted by topic, partition and first offset."""
        return tuple(
            OffsetRange(topic, partition, first, last)
            for (topic, partition) in sorted(self._starts)
            for first, last in zip(
                self._starts[(topic, partition)], self._ends[(topic, partition)], strict=True
            )
        )

    def __len__(self) -> int:
        """How many distinct offsets are covered."""
        return sum(
            e - s + 1
            for key in self._starts
            for s, e in zip(self._starts[key], self._ends[key], strict=True)
        )


class TrainingSet(NamedTuple):
    """What one fine-tune trains on, and exactly where it came from.

    ``post_drift``: how many of the examples came after a detected drift's boundary (0 when
    no drift is being recovered from).
    """

    images: NDArray[
        np.float32
    ]  # [N, H, W] float32, values as ingested (scaling is the flavor's job)
    labels: NDArray[np.int64]  # [N] int64
    positions: tuple[EventPosition, ...]
    post_drift: int = 0

    def ranges(self) -> tuple[OffsetRange, ...]:
        """The exact offset ranges of this set, for ``ModelVersion.training_ranges``."""
        return TrainingLineage(self.positions).ranges()


class ReplayBuffer:
    """A window of recent labeled examples plus a uniform reservoir of older ones.

    After a drift (``begin_drift``) the window holds only examples from the drift's boundary
    on: the older ones go to the reservoir, and so do late labels of pre-drift events. A
    training set is then the post-drift window (its newest ``recovery_examples`` when set)
    plus a reservoir sample of at most ``replay_fraction`` of that (at least
    ``REPLAY_FLOOR``), so the fine-tune learns the
    new distribution from few examples without forgetting the old one. Once the window is
    full of post-drift examples the recovery is over and training sets are whole again.

    Args:
        window_size: how many of the most recent examples to keep.
        reservoir_size: how many examples that left the window to sample uniformly (0: none).
        seed: the reservoir's random seed, so a run is reproducible.
        replay_fraction: the reservoir's share, relative to the post-drift examples, of a
            training set cut while recovering from a drift.
    """

    REPLAY_FLOOR = 32

    def __init__(
        self,
        window_size: int,
        reservoir_size: int,
        seed: int,
        replay_fraction: float = 0.3,
        recovery_examples: int | None = None,
    ) -> None:
        if window_size < 1 or reservoir_size < 0:
            raise ValueError("window_size must be >= 1 and reservoir_size >= 0")
        if replay_fraction < 0:
            raise ValueError("replay_fraction must be >= 0")
        self._replay_fraction = replay_fraction
        self._recovery_examples = recovery_examples
        self._drift: Detection | None = None
        self._window: deque[LabeledExample] = deque()
        self._window_size = window_size
        self._reservoir: list[LabeledExample] = []
        self._reservoir_size = reservoir_size
        self._left_window = 0  # examples that fell out of the window: Algorithm R's n
        self._rng = np.random.default_rng(seed)
        self._ingested = TrainingLineage()
        self._untrained = 0  # window entries added since the last training set was cut

    def add(self, example: LabeledExample) -> None:
        """Add one labeled example; the oldest window entry moves to the reservoir sampler."""
        self._ingested.add(example.position)
        if self._drift is not None and not self._drift.starts_at(example.position):
            self._offer_to_reservoir(example)  # a late label from before the drift
            return
        self._window.append(example)
        self._untrained += 1
        if len(self._window) > self._window_size:
            self._offer_to_reservoir(self._window.popleft())
        if self._drift is not None and len(self._window) >= self._window_size:
            self._drift = None  # recovered: the window is all post-drift

    @property
    def room(self) -> int:
        """How many more examples fit before one that no training set has had yet would
        fall out of the window (into the reservoir's sample, where it may be dropped);
        negative when some already have."""
        return self._window_size - self._untrained

    @property
    def recovering(self) -> bool:
        """Whether a drift is being recovered from (see ``begin_drift``)."""
        return self._drift is not None

    @property
    def post_drift(self) -> int:
        """Examples from the current drift's boundary on (0 when not recovering)."""
        return len(self._window) if self._drift is not None else 0

    def begin_drift(self, drift: Detection) -> None:
        """From now on the window keeps only examples at or after ``drift``'s boundary."""
        self._drift = drift
        kept: deque[LabeledExample] = deque()
        for example in self._window:
            if drift.starts_at(example.position):
                kept.append(example)
            else:
                self._offer_to_reservoir(example)
        self._window = kept

    def __len__(self) -> int:
        return len(self._window) + len(self._reservoir)

    def training_set(self) -> TrainingSet:
        """The reservoir (oldest) then the window; while recovering from a drift, only a
        sample of the reservoir (see the class docstring)."""
        replay = self._reservoir
        window = list(self._window)
        if self._drift is not None:
            if self._recovery_examples is not None:
                window = window[-self._recovery_examples :]  # short fits, one after another
            want = max(self.REPLAY_FLOOR, int(self._replay_fraction * len(window)))
            if want < len(replay):
                picked = self._rng.choice(len(replay), size=want, replace=False)
                replay = [replay[i] for i in sorted(picked.tolist())]
        examples = [*replay, *window]
        if not examples:
            return TrainingSet(np.empty((0, 0, 0), np.float32), np.empty(0, np.int64), positions=())
        images = np.stack([e.image for e in examples], dtype=np.float32)
        labels = np.fromiter((e.label for e in examples), dtype=np.int64, count=len(examples))
        post = len(window) if self._drift is not None else 0
        return TrainingSet(images, labels, tuple(e.position for e in examples), post)

    def positions_covered(self) -> list[OffsetRange]:
        """Ranges of everything ingested since the last ``mark_trained()``.

        This is progress reporting ("what is new since the last fine-tune"), not lineage:
        it includes examples already evicted and excludes older reservoir examples. Record
        ``TrainingSet.ranges()`` in the registry instead.
        """
        return list(self._ingested.ranges())

    def mark_trained(self) -> None:
        """Start a new ingestion period after a fine-tune."""
        self._ingested = TrainingLineage()
        self._untrained = 0

    def _offer_to_reservoir(self, example: LabeledExample) -> None:
        # Algorithm R: after n offers each offered example is held with probability k/n.
        self._left_window += 1
        if len(self._reservoir) < self._reservoir_size:
            self._reservoir.append(example)
            return
        j = int(self._rng.integers(0, self._left_window))
        if j < self._reservoir_size:
            self._reservoir[j] = example
