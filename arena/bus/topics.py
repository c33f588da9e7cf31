"""The topics Arena uses, and creating them idempotently with the admin API."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # public API, re-exported untyped
    AdminClient,
    ConfigResource,
    NewTopic,
)

from arena.bus.broker_log import kafka_error_of, log_broker_error
from arena.config import KafkaSettings
from arena.errors import BusError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic to create: name, partition count, and whether it is log-compacted."""

    name: str
    partitions: int
    compacted: bool = False
    config: Mapping[str, str] = field(default_factory=dict)

    def topic_config(self) -> dict[str, str]:
        """The broker config of this topic, with ``cleanup.policy=compact`` when compacted."""
        cfg = dict(self.config)
        if self.compacted:
            cfg["cleanup.policy"] = "compact"
        return cfg


def default_topics(kafka: KafkaSettings) -> list[TopicSpec]:
    """Every topic Arena needs.

    The data topics are partitioned for throughput. The control topics (models, scorer
    status) are compacted and single-partition: their latest record per key is the state, and
    one partition keeps it totally ordered.
    """
    data = [kafka.image_topic, kafka.label_topic, kafka.prediction_topic]
    specs = [TopicSpec(name, kafka.partitions) for name in data]
    specs += [
        TopicSpec(kafka.dlq_topic(kafka.image_topic), kafka.partitions),
        TopicSpec(kafka.dlq_topic(kafka.label_topic), kafka.partitions),
        TopicSpec(kafka.model_topic, 1, compacted=True),
        TopicSpec(kafka.scorer_status_topic, 1, compacted=True),
    ]
    return specs


def admin_client(kafka: KafkaSettings) -> AdminClient:
    return AdminClient(kafka.client_config(), error_cb=log_broker_error)


def ensure_topics(
    kafka: KafkaSettings, specs: Iterable[TopicSpec], timeout_s: float = 30.0
) -> list[str]:
    """Create the topics of ``specs`` that do not exist yet; return the names created.

    Idempotent: a topic that exists (or is created concurrently) is fine. Any other error is
    raised as a BusError. Returns once the cluster metadata shows every topic.
    """
    specs = list(specs)
    admin = admin_client(kafka)
    existing = set(_list_topics(admin, timeout_s, kafka.call_timeout_s))
    missing = [s for s in specs if s.name not in existing]
    created: list[str] = []
    if missing:
        new = [
            NewTopic(
                s.name,
                num_partitions=s.partitions,
                replication_factor=kafka.replication_factor,
                config=s.topic_config(),
            )
            for s in missing
        ]
        futures = admin.create_topics(new, operation_timeout=timeout_s, request_timeout=timeout_s)
        for name in _settle(futures, KafkaError.TOPIC_ALREADY_EXISTS, "create", timeout_s):
            created.append(name)
            logger.info("created topic %s", name)
    _wait_for_topics(admin, [s.name for s in specs], timeout_s)
    return created


def delete_topics(kafka: KafkaSettings, names: Iterable[str], timeout_s: float = 30.0) -> None:
    """Delete topics (tests clean up with this); a topic already gone is fine."""
    names = list(names)
    if not names:
        return
    admin = admin_client(kafka)
    futures = admin.delete_topics(names, operation_timeout=timeout_s, request_timeout=timeout_s)
    _settle(futures, KafkaError.UNKNOWN_TOPIC_OR_PART, "delete", timeout_s)


def _settle(
    futures: Mapping[str, Future[None]], tolerated: int, verb: str, timeout_s: float
) -> list[str]:
    """Wait for admin futures; the names that succeeded. ``tolerated`` (already there, or
    already gone) is not an error; anything else is raised as BusError naming the topic."""
    done = []
    deadline = time.monotonic() + timeout_s + 5.0  # the request's own timeout, and a margin
    for name, future in futures.items():
        try:
            future.result(timeout=max(deadline - time.monotonic(), 0.1))
        except TimeoutError as exc:
            raise BusError(f"could not {verb} topic {name}: no answer", retriable=True) from exc
        except KafkaException as exc:
            err = kafka_error_of(exc)
            if err is not None and err.code() == tolerated:
                continue
            raise BusError(f"could not {verb} topic {name}: {exc}") from exc
        done.append(name)
    return done


def topic_config(kafka: KafkaSettings, name: str, timeout_s: float = 30.0) -> dict[str, str]:
    """The effective broker configuration of topic ``name``."""
    admin = admin_client(kafka)
    resource = ConfigResource("topic", name)
    futures = admin.describe_configs([resource], request_timeout=timeout_s)
    try:
        entries = futures[resource].result(timeout=timeout_s + 5.0)
    except TimeoutError as exc:
        raise BusError(f"could not describe topic {name}: no answer", retriable=True) from exc
    except KafkaException as exc:
        raise BusError(f"could not describe topic {name}: {exc}") from exc
    return {key: str(entry.value) for key, entry in entries.items()}


def _list_topics(admin: AdminClient, timeout_s: float, slice_s: float) -> list[str]:
    """The topic names, asking in slices of ``slice_s`` until ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            return list(admin.list_topics(timeout=max(min(remaining, slice_s), 0.1)).topics)
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                raise BusError(f"could not list topics: {exc}", retriable=True) from exc
            logger.warning("could not list topics yet (%s); asking again", exc)


def _wait_for_topics(admin: AdminClient, names: list[str], timeout_s: float) -> None:
    """Wait until the metadata shows every topic with its partitions and without an error."""
    deadline = time.monotonic() + timeout_s
    pending = set(names)
    while True:
        try:
            metadata = admin.list_topics(timeout=max(min(deadline - time.monotonic(), 5.0), 0.1))
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                raise BusError(f"topics not visible: {exc}", retriable=True) from exc
            continue
        pending = {
            n
            for n in pending
            if n not in metadata.topics
            or metadata.topics[n].error is not None
            or not metadata.topics[n].partitions
        }
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise BusError(f"topics not visible after {timeout_s}s: {sorted(pending)}")
        time.sleep(0.1)  # metadata propagation; polled against the deadline above


def wait_for_leaders(kafka: KafkaSettings, timeout_s: float = 30.0) -> None:
    """Wait until every partition of Arena's topics has a leader (a new topic briefly has
    none, and a consumer or transactional producer started then fails its first calls)."""
    consumer = Consumer(
        {**kafka.client_config(), "group.id": f"arena-leaders-{uuid.uuid4().hex[:8]}"}
    )
    try:
        for spec in default_topics(kafka):
            for partition in range(spec.partitions):
                deadline = time.monotonic() + timeout_s
                while True:
                    try:
                        consumer.get_watermark_offsets(
                            TopicPartition(spec.name, partition), timeout=5
                        )
                        break
                    except KafkaException:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)  # the new partition has no leader yet
    finally:
        consumer.close()
