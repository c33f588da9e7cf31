"""Drift detection on the live stream: ADWIN (``river.drift``) on what the champion sees.

Two kinds of signal, so a drift can be caught before its labels arrive:

- **labeled**: the champion's error (0 or 1) on each joined example;
- **unlabeled**: per chunk of ``chunk`` images, the champion's mean confidence (its top
  softmax probability) and three input statistics of the pixels: mean brightness, contrast
  (standard deviation) and edge energy (mean absolute gradient).

Only a change for the worse counts for the champion's signals (error up, confidence down):
after a promotion the error drops, and that is not a drift. Any change of an input
statistic counts. Each detection names where the change began (``change_point`` on the
detector's recent samples): per partition, the first offset after the change is the
drift's boundary, and examples from there on are "post-drift".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from river.drift import ADWIN

from arena.join import EventPosition

Boundary = dict[tuple[str, int], int]  # (topic, partition) -> first post-drift offset

LABELED_ERROR = "champion_error"
CONFIDENCE = "champion_confidence"
INPUT_STATISTICS = ("input_mean", "input_contrast", "input_edges")
HISTORY = 2048  # samples each detector remembers to place a change


@dataclass(frozen=True, slots=True)
class Detection:
    """One detector's alarm: what moved, from what to what, and where the change began."""

    detector: str  # e.g. "adwin:champion_error"
    statistic: str
    before: float  # the statistic's mean before the change
    after: float  # and since
    labeled: bool
    boundary: Boundary
    samples_since_change: int
    position: EventPosition  # the last event seen when it fired

    def starts_at(self, position: EventPosition) -> bool:
        """Whether ``position`` is at or after this drift's boundary (post-drift); events of
        a partition the detector saw nothing of since the change count as post-drift."""
        first = self.boundary.get((position.topic, position.partition))
        return first is None or position.offset >= first


def input_statistics(images: NDArray[np.float32]) -> NDArray[np.float64]:
    """Per image ``[N, 3]``: mean brightness, contrast (std) and edge energy, on 0..1 pixels."""
    if images.ndim != 3:
        raise ValueError(f"expected images [N, H, W], got shape {images.shape}")
    flat = images.reshape(len(images), -1)
    edges = np.abs(np.diff(images, axis=1)).mean(axis=(1, 2)) + np.abs(
        np.diff(images, axis=2)
    ).mean(axis=(1, 2))
    stats: NDArray[np.float64] = np.stack(
        [flat.mean(axis=1), flat.std(axis=1), edges], axis=1
    ).astype(np.float64)
    return stats


class _Stream:
    """One ADWIN over one statistic, remembering its recent samples and their positions.

    ADWIN says *that* the mean changed; where it changed is estimated afterwards on the
    remembered samples, as the split that maximizes the standardized difference of the
    means before and after it (the CUSUM change-point estimate).
    """

    def __init__(self, statistic: str, delta: float, worse: int, labeled: bool, clock: int) -> None:
        self.statistic = statistic
        self.labeled = labeled
        self._delta = delta
        self._clock = clock
        self._worse = worse  # +1: only increases count, -1: only decreases, 0: both
        self._adwin = self._new_adwin()
        self._values: deque[float] = deque(maxlen=HISTORY)
        self._firsts: deque[Boundary] = deque(maxlen=HISTORY)

    def _new_adwin(self) -> ADWIN:
        return ADWIN(delta=self._delta, clock=self._clock)  # type: ignore[no-untyped-call]

    def reset(self) -> None:
        self._adwin = self._new_adwin()
        self._values.clear()
        self._firsts.clear()

    def update(self, value: float, firsts: Boundary, last: EventPosition) -> Detection | None:
        self._adwin.update(value)  # type: ignore[no-untyped-call]
        self._values.append(value)
        self._firsts.append(firsts)
        if not self._adwin.drift_detected:
            return None
        values = np.fromiter(self._values, np.float64, len(self._values))
        split = change_point(values)
        before, after = float(values[:split].mean()), float(values[split:].mean())
        if self._worse * (after - before) < 0:
            return None  # a change for the better
        boundary: Boundary = {}
        for chunk in list(self._firsts)[split:]:
            for key, offset in chunk.items():
                boundary[key] = min(offset, boundary.get(key, offset))
        if self.labeled:
            boundary |= self._boundary_in_offset_order(values, boundary)
        # The samples before the change are history now: the next alarm is a new change.
        for _ in range(split):
            self._values.popleft()
            self._firsts.popleft()
        return Detection(
            detector=f"adwin:{self.statistic}",
            statistic=self.statistic,
            before=before,
            after=after,
            labeled=self.labeled,
            boundary=boundary,
            samples_since_change=len(values) - split,
            position=last,
        )

    def _boundary_in_offset_order(
        self, values: NDArray[np.float64], after_split: Boundary
    ) -> Boundary:
        """Per partition, where its samples change when put in offset order.

        Labels arrive late, each by its own lag, so in arrival order a pre-drift photo's
        label can come after the change: the first offset among the samples after the split
        is then a pre-drift one (measured: a rotation's boundary ~110 offsets per partition
        early, and the first fine-tune trained on the old digits as if they were new). In
        offset order the change is where the drift began. A partition whose samples show
        no change for the worse that way keeps the first offset after the split.
        """
        per_partition: dict[tuple[str, int], list[tuple[int, float]]] = {}
        for value, firsts in zip(values, self._firsts, strict=True):
            for key, offset in firsts.items():
                if key in after_split:
                    per_partition.setdefault(key, []).append((offset, float(value)))
        found: Boundary = {}
        for key, samples in per_partition.items():
            if len(samples) < 2:
                continue
            samples.sort()
            ordered = np.array([v for _, v in samples], np.float64)
            k = change_point(ordered)
            if self._worse * (ordered[k:].mean() - ordered[:k].mean()) > 0:
                found[key] = samples[k][0]
        return found


def change_point(values: NDArray[np.float64]) -> int:
    """The split ``k`` (1 <= k < n) maximizing |mean(x[:k]) - mean(x[k:])| * sqrt(k(n-k)/n)."""
    n = len(values)
    if n < 2:
        return max(n - 1, 0)
    k = np.arange(1, n)
    head = np.cumsum(values)[:-1]
    total = float(values.sum())
    diff = head / k - (total - head) / (n - k)
    score = np.abs(diff) * np.sqrt(k * (n - k) / n)
    return int(k[int(np.argmax(score))])


def _firsts(positions: Sequence[EventPosition]) -> Boundary:
    out: Boundary = {}
    for p in positions:
        key = (p.topic, p.partition)
        out[key] = min(p.offset, out.get(key, p.offset))
    return out


class DriftMonitor:
    """The detectors of one service, fed batch by batch.

    Args:
        labeled_delta: ADWIN's confidence parameter for the champion's error.
        unlabeled_delta: the same for the chunked unlabeled statistics (smaller: there are
            four of them, and a false alarm costs a needless fine-tune).
        chunk: images per unlabeled sample (their mean); bounds the cost at high rates.
    """

    def __init__(
        self, labeled_delta: float = 0.002, unlabeled_delta: float = 0.0005, chunk: int = 8
    ) -> None:
        if chunk < 1:
            raise ValueError("chunk must be >= 1")
        self._chunk = chunk
        self._error = _Stream(LABELED_ERROR, labeled_delta, +1, labeled=True, clock=4)
        self._confidence = _Stream(CONFIDENCE, unlabeled_delta, -1, labeled=False, clock=1)
        self._inputs = [
            _Stream(s, unlabeled_delta, 0, labeled=False, clock=1) for s in INPUT_STATISTICS
        ]
        self._pending: list[tuple[float, NDArray[np.float64], EventPosition]] = []

    def champion_changed(self) -> None:
        """A new champion: its error and confidence start a new baseline."""
        self._error.reset()
        self._confidence.reset()

    def observe_labeled(
        self, errors: Sequence[bool], positions: Sequence[EventPosition]
    ) -> list[Detection]:
        """The champion's error on joined examples, in arrival order."""
        found = []
        for wrong, position in zip(errors, positions, strict=True):
            hit = self._error.update(float(wrong), _firsts([position]), position)
            if hit is not None:
                found.append(hit)
        return found

    def observe_unlabeled(
        self,
        confidence: NDArray[np.float32] | None,
        images: NDArray[np.float32],
        positions: Sequence[EventPosition],
    ) -> list[Detection]:
        """Images as they arrive, with the champion's top probability for each (or None
        when the champion could not score them: then only the input statistics count)."""
        if len(images) != len(positions):
            raise ValueError("one position per image")
        stats = input_statistics(images) if len(images) else np.empty((0, 3))
        conf = np.full(len(images), np.nan) if confidence is None else confidence
        found = []
        for c, s, p in zip(conf, stats, positions, strict=True):
            self._pending.append((float(c), s, p))
            if len(self._pending) == self._chunk:
                found.extend(self._flush_chunk())
        return found

    def _flush_chunk(self) -> list[Detection]:
        chunk, self._pending = self._pending, []
        positions = [p for _, _, p in chunk]
        firsts, last = _firsts(positions), positions[-1]
        found = []
        confidences = [c for c, _, _ in chunk if not np.isnan(c)]
        if confidences:
            hit = self._confidence.update(float(np.mean(confidences)), firsts, last)
            if hit is not None:
                found.append(hit)
        means = np.mean([s for _, s, _ in chunk], axis=0)
        for stream, value in zip(self._inputs, means, strict=True):
            hit = stream.update(float(value), firsts, last)
            if hit is not None:
                found.append(hit)
        return found
