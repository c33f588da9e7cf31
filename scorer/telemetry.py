"""The scorer's Prometheus metrics, on a registry of its own (several scorers can share a
process in tests without clashing)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass
class ScorerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.events = Counter("arena_scorer_events", "Images scored", registry=r)
        self.batches = Counter("arena_scorer_batches", "Committed batches", registry=r)
        self.dead_letters = Counter("arena_scorer_dlq", "Records sent to the DLQ", registry=r)
        self.latency = Histogram(
            "arena_scorer_latency_seconds",
            "Event time to prediction",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.serving_version = Gauge(
            "arena_scorer_serving_version", "Model version served", registry=r
        )
        self.serving_onnx = Gauge(
            "arena_scorer_serving_onnx",
            "1 while the served version runs as ONNX under ONNX Runtime, 0 when native",
            registry=r,
        )
        self.swaps = Counter("arena_scorer_model_swaps", "Hot swaps of the model", registry=r)
        self.load_failures = Counter(
            "arena_scorer_model_load_failures",
            "Model versions refused (checksum, corrupt, shape)",
            registry=r,
        )
        self.nonfinite_batches = Counter(
            "arena_scorer_nonfinite_batches",
            "Batches whose model output was NaN or infinite (dead-lettered)",
            registry=r,
        )
        self.status_failures = Counter(
            "arena_scorer_status_failures",
            "Status records (changes or heartbeats) not queued or not delivered",
            registry=r,
        )
        self.batch_failures = Counter(
            "arena_scorer_batch_failures", "Batches aborted and retried", registry=r
        )
