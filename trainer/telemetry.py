"""The trainer's Prometheus metrics, on a registry of its own (tests run several trainers in
one process). The join buffer's numbers are read from the joiner at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from arena.join import JoinStats

FINE_TUNE_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class JoinCollector(Collector):
    """The join buffer as metrics: what waits now (gauges) and what happened (counters)."""

    def __init__(self, stats: Callable[[], JoinStats | None]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        if s is None:  # the trainer has not built its joiner yet
            return
        yield GaugeMetricFamily(
            "arena_trainer_join_labels_waiting", "Labels waiting for their image", s.labels_waiting
        )
        yield GaugeMetricFamily(
            "arena_trainer_join_images_waiting", "Images waiting for their label", s.images_waiting
        )
        counters = {
            "joined": ("Images joined with their label", s.joined),
            "labels_expired": ("Labels expired without their image (unmatched)", s.labels_expired),
            "images_expired_unlabeled": (
                "Images expired without a label",
                s.images_expired_unlabeled,
            ),
            "evicted": ("Entries evicted under capacity pressure", s.evicted),
            "duplicates": ("Redelivered images or labels ignored", s.duplicates),
        }
        for name, (doc, value) in counters.items():
            yield CounterMetricFamily(f"arena_trainer_join_{name}", doc, value)


@dataclass
class TrainerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.fine_tunes = Counter("arena_trainer_fine_tunes", "Challengers registered", registry=r)
        self.fine_tunes_restarted = Counter(
            "arena_trainer_fine_tunes_restarted",
            "Fine-tunes cancelled because the champion they started from was replaced",
            registry=r,
        )
        self.onnx_registered = Counter(
            "arena_trainer_onnx_forms",
            "Challengers registered with an ONNX form (parity checked)",
            registry=r,
        )
        self.fine_tune_seconds = Histogram(
            "arena_trainer_fine_tune_seconds",
            "Duration of a fine-tune, training to registration",
            buckets=FINE_TUNE_BUCKETS,
            registry=r,
        )
        self.examples_trained = Counter(
            "arena_trainer_examples_trained",
            "Examples in the training sets of fine-tunes",
            registry=r,
        )
        self.dead_labels = Counter(
            "arena_trainer_dead_labels", "Malformed labels sent to the DLQ", registry=r
        )
        self.replay_examples = Gauge(
            "arena_trainer_replay_examples", "Examples in the replay buffer", registry=r
        )
        self.scheduled_runs = Counter(
            "arena_trainer_scheduled_runs", "Scheduled retrain jobs that fired here", registry=r
        )
        self.drift_detections = Counter(
            "arena_trainer_drift_detections",
            "Drift detector alarms, by detector",
            ["detector"],
            registry=r,
        )
        self.recovering = Gauge(
            "arena_trainer_recovering_from_drift",
            "1 while the trainer recovers from a detected drift",
            registry=r,
        )
        self.intake_paused = Gauge(
            "arena_trainer_intake_paused",
            "1 while the trainer reads nothing: the window is full of examples no fine-tune "
            "has had, and one is in flight",
            registry=r,
        )

    def watch_join(self, stats: Callable[[], JoinStats | None]) -> None:
        """Export the join buffer's statistics, read from ``stats`` at each scrape."""
        self.registry.register(JoinCollector(stats))
