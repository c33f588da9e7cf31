"""A batch consumer: read_committed, manual offsets, errors logged and classified.

Every call that waits on the broker is bounded (``KafkaSettings.call_timeout_ms``), and a
consumer that librdkafka declares fatal is rebuilt in place (``rebuild``) with the same
configuration and subscription, so the service keeps running and resumes from the committed
offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from arena.bus.bounded import call_bounded, run_bounded
from arena.bus.broker_log import as_bus_error, log_broker_error
from arena.config import KafkaSettings
from arena.errors import BusError

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 2.0  # a closing consumer waits this long at most (shutdown must be quick)

RebalanceCallback = Callable[[Consumer, list[TopicPartition]], None]


class ConsumerFatal(BusError):
    """librdkafka declared the consumer unusable (e.g. fenced by a member with its instance
    id): only a new consumer (``BatchConsumer.rebuild``) can go on."""


def consumer_config(
    kafka: KafkaSettings, group_id: str, *, instance_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """The consumer configuration Arena uses; ``overrides`` win (dotted librdkafka names).

    ``instance_id`` makes the consumer a static group member (``group.instance.id``): a
    restarted process with the same id gets its partitions back at once, without a rebalance,
    and a member that disappears keeps them only for ``session_timeout_ms``.
    """
    config: dict[str, Any] = {
        **kafka.client_config(),
        "group.id": group_id,
        "session.timeout.ms": kafka.session_timeout_ms,
        "heartbeat.interval.ms": max(100, min(3_000, kafka.session_timeout_ms // 3)),
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
    if instance_id:
        config["group.instance.id"] = instance_id
    config.update(overrides)
    return config


class BatchConsumer:
    """Reads batches with ``Consumer.consume`` (never a per-message poll loop)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        group_id: str,
        instance_id: str | None = None,
        /,
        **overrides: Any,
    ) -> None:
        """``instance_id``: a stable id for static group membership (see ``consumer_config``);
        ``overrides``: librdkafka settings (dotted names)."""
        self.group_id = group_id
        self._timeout_s = kafka.call_timeout_s
        self._config = consumer_config(kafka, group_id, instance_id=instance_id, **overrides)
        self._consumer = Consumer(self._config)
        self._subscription: tuple[list[str], dict[str, RebalanceCallback]] | None = None
        self._closed = False

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
        self._subscription = (list(topics), kwargs)
        self._consumer.subscribe(list(topics), **kwargs)

    def rebuild(self) -> None:
        """Replace a fatal consumer with a new one: same configuration, same subscription.

        The new one joins the group and resumes every partition it is given from the group's
        committed offsets, which is where exactly-once processing must resume.
        """
        logger.warning("consumer %s: rebuilding the Kafka consumer", self.group_id)
        old, self._consumer = self._consumer, Consumer(self._config)
        run_bounded(old.close, self._timeout_s, f"close of consumer {self.group_id}")
        if self._subscription is not None:
            topics, kwargs = self._subscription
            self._consumer.subscribe(topics, **kwargs)

    def consume(self, n: int, timeout_s: float) -> list[Message]:
        """Up to ``n`` messages, waiting at most ``timeout_s``; error events are filtered out.

        Partition EOF is ignored. Other errors are logged; a fatal one raises BusError, since
        the consumer cannot continue.
        """
        try:
            batch = self._consumer.consume(num_messages=n, timeout=timeout_s)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.fatal():
                raise ConsumerFatal(f"consume: {err.str()} ({err.name()})") from exc
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
            elif err.fatal() or err.code() == KafkaError._FATAL:
                # A static member fenced after a broker restart arrives as _FATAL without the
                # fatal flag set on the event: only a new consumer can rejoin.
                logger.critical("consumer %s fatal error: %s", self.group_id, err)
                raise ConsumerFatal(f"consumer {self.group_id}: fatal error {err.str()}")
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

    def committed(
        self, partitions: list[TopicPartition], timeout_s: float | None = None
    ) -> list[TopicPartition]:
        """The group's committed offsets of ``partitions`` (stable ones: a transaction still
        being decided is waited for), waiting at most ``timeout_s`` (default: the call timeout).
        """
        timeout = self._timeout_s if timeout_s is None else timeout_s
        try:
            return self._consumer.committed(partitions, timeout=timeout)
        except KafkaException as exc:
            error = as_bus_error(exc, f"committed offsets of group {self.group_id}")
            raise BusError(str(error), retriable=True) from exc  # a timeout, a coordinator move

    def assignment(self) -> list[TopicPartition]:
        return self._consumer.assignment()

    def pause(self) -> None:
        """Stop fetching from every assigned partition (the group membership stays alive:
        ``consume`` goes on returning nothing). Partitions assigned later are not paused."""
        self._consumer.pause(self._consumer.assignment())

    def resume(self) -> None:
        self._consumer.resume(self._consumer.assignment())

    def commit(self, offsets: list[TopicPartition]) -> None:
        """Commit ``offsets`` synchronously (for consumers outside a transaction)."""
        what = f"commit for group {self.group_id}"
        try:
            call_bounded(
                lambda: self._consumer.commit(offsets=offsets, asynchronous=False),
                self._timeout_s,
                what,
            )
        except KafkaException as exc:
            raise as_bus_error(exc, what) from exc

    def close(self, timeout_s: float | None = None) -> None:
        """Close, committing nothing (offsets only move with finished work), within
        ``timeout_s`` (default: 2 s, or the call timeout if shorter) whatever the broker does.
        A static member does not leave the group: its restart resumes its partitions at once.
        """
        if self._closed:
            return
        self._closed = True
        timeout = min(self._timeout_s, CLOSE_TIMEOUT_S) if timeout_s is None else timeout_s
        run_bounded(self._consumer.close, timeout, f"close of consumer {self.group_id}")

    def __enter__(self) -> BatchConsumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
