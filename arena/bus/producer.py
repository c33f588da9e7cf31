"""Idempotent (optionally transactional) producers that never lose a delivery failure."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from arena.bus.bounded import run_bounded
from arena.bus.broker_log import log_broker_error
from arena.config import KafkaSettings
from arena.errors import DeliveryError

logger = logging.getLogger(__name__)

MAX_FAILURES_KEPT = 1000  # enough to diagnose; bounded so a dead broker cannot grow memory


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    topic: str
    partition: int
    error: KafkaError


@dataclass(slots=True)
class DeliveryTracker:
    """Delivery reports of one producer: how many were acknowledged, which ones failed."""

    delivered: int = 0
    failed: int = 0
    failures: list[DeliveryFailure] = field(default_factory=list)

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        failure = DeliveryFailure(str(msg.topic()), msg.partition() or -1, err)
        logger.error("delivery to %s [%d] failed: %s", failure.topic, failure.partition, err)
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append(failure)

    def take_failures(self) -> tuple[int, list[DeliveryFailure]]:
        """The failures since the last call (count, and the first ones kept); resets both."""
        taken = (self.failed, self.failures)
        self.failed, self.failures = 0, []
        return taken


class TrackedProducer(Producer):
    """A confluent-kafka Producer that records its delivery reports in ``deliveries``."""

    deliveries: DeliveryTracker


def producer_config(
    kafka: KafkaSettings, *, transactional_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """The producer configuration Arena uses; ``overrides`` win (use dotted librdkafka names)."""
    config: dict[str, Any] = {
        **kafka.client_config(),
        "enable.idempotence": True,
        "acks": "all",
        # Throughput: let batches fill for a few ms, compress them cheaply.
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 500_000,
        "transaction.timeout.ms": kafka.transaction_timeout_ms,
        "error_cb": log_broker_error,
    }
    if transactional_id is not None:
        config["transactional.id"] = transactional_id
    config.update(overrides)
    return config


def make_producer(
    kafka: KafkaSettings, *, transactional_id: str | None = None, **overrides: Any
) -> TrackedProducer:
    """An idempotent producer (acks=all) that logs broker errors and tracks delivery failures.

    With ``transactional_id`` it is transactional: call ``init_transactions()`` before use
    (TransactionalProcessor.init does). ``overrides`` are librdkafka settings, e.g.
    ``make_producer(kafka, **{"linger.ms": 0})``.
    """
    tracker = DeliveryTracker()
    config = producer_config(kafka, transactional_id=transactional_id, **overrides)
    config.setdefault("on_delivery", tracker.on_delivery)
    producer = TrackedProducer(config)
    producer.deliveries = tracker
    return producer


def flush_or_raise(producer: Producer, timeout_s: float) -> None:
    """Wait for every queued record; raise DeliveryError if one failed or some are left.

    The error names each failed topic and the broker's error, so the operator knows what to
    fix; a retriable error says so.
    """
    remaining = producer.flush(timeout_s)
    failed, failures = (
        producer.deliveries.take_failures() if isinstance(producer, TrackedProducer) else (0, [])
    )
    if not failed and not remaining:
        return
    problems = sorted({f"{f.topic}: {f.error.str()} ({f.error.name()})" for f in failures})
    parts = []
    if failed:
        parts.append(f"{failed} record(s) failed: " + "; ".join(problems))
    if remaining:
        parts.append(f"{remaining} record(s) still undelivered after {timeout_s}s")
    retriable = bool(failures) and all(f.error.retriable() for f in failures)
    raise DeliveryError(". ".join(parts), retriable=retriable or (not failed and remaining > 0))


def close_producer(producer: Producer, timeout_s: float) -> None:
    """Deliver what is queued and close, within ``timeout_s`` whatever the broker does.

    For shutdown: records still undelivered are logged (they are lost for a plain producer;
    a transactional one's open transaction is aborted by the broker or the next instance).
    """
    remaining = producer.flush(timeout_s)
    if remaining:
        logger.error("%d record(s) undelivered when the producer closed", remaining)
    run_bounded(producer.close, 1.0, "close of a producer")
