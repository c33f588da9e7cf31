"""A batch consumer: read_committed, manual offsets, errors logged and classified."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from arena.bus.broker_log import as_bus_error, log_broker_error
from arena.config import KafkaSettings
from arena.errors import BusError

logger = logging.getLogger(__name__)

RebalanceCallback = Callable[[Consumer, list[TopicPartition]], None]


def consumer_config(kafka: KafkaSettings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """The consumer configuration Arena uses; ``overrides`` win (dotted librdkafka names)."""
    config: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap,
        "group.id": group_id,
        # Only see committed transactions; offsets move only when the work is done.
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # Throughput without latency: answer as soon as there is data, prefetch generously.
        "fetch.min.bytes": 1,
        "fetch.wait.max.ms": 100,
        "queued.max.messages.kbytes": 65_536,
        "error_cb": log_broker_error,
    }
    config.update(overrides)
    return config


class BatchConsumer:
    """Reads batches with ``Consumer.consume`` (never a per-message poll loop)."""

    def __init__(self, kafka: KafkaSettings, group_id: str, **overrides: Any) -> None:
        self.group_id = group_id
        self._consumer = Consumer(consumer_config(kafka, group_id, **overrides))

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> None:
        kwargs: dict[str, RebalanceCallback] = {}
        if on_assign is not None:
            kwargs["on_assign"] = on_assign
        if on_revoke is not None:
            kwargs["on_revoke"] = on_revoke
        self._consumer.subscribe(list(topics), **kwargs)

    def consume(self, n: int, timeout_s: float) -> list[Message]:
        """Up to ``n`` messages, waiting at most ``timeout_s``; error events are filtered out.

        Partition EOF is ignored. Other errors are logged; a fatal one raises BusError, since
        the consumer cannot continue.
        """
        try:
            batch = self._consumer.consume(num_messages=n, timeout=timeout_s)
        except KafkaException as exc:
            raise as_bus_error(exc, "consume") from exc
        if all(m.error() is None for m in batch):
            return batch
        good: list[Message] = []
        for msg in batch:
            err = msg.error()
            if err is None:
                good.append(msg)
            elif err.code() == KafkaError._PARTITION_EOF:
                continue
            elif err.fatal():
                logger.critical("consumer %s fatal error: %s", self.group_id, err)
                raise BusError(f"consumer {self.group_id}: fatal error {err.str()}")
            else:
                logger.error(
                    "consumer %s error on %s [%s]: %s",
                    self.group_id,
                    msg.topic(),
                    msg.partition(),
                    err,
                )
        return good

    def consumer_group_metadata(self) -> Any:
        """The group metadata a transactional producer needs for ``send_offsets_to_transaction``."""
        return self._consumer.consumer_group_metadata()

    def seek(self, partition: TopicPartition) -> None:
        self._consumer.seek(partition)

    def committed(self, partitions: list[TopicPartition], timeout_s: float) -> list[TopicPartition]:
        return self._consumer.committed(partitions, timeout=timeout_s)

    def assignment(self) -> list[TopicPartition]:
        return self._consumer.assignment()

    def commit(self, offsets: list[TopicPartition]) -> None:
        """Commit ``offsets`` synchronously (for consumers outside a transaction)."""
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            raise as_bus_error(exc, f"commit for group {self.group_id}") from exc

    def close(self) -> None:
        """Leave the group (committing nothing: offsets only move with finished work)."""
        self._consumer.close()

    def __enter__(self) -> BatchConsumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
