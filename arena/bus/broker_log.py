"""One error callback for every Kafka client, so broker errors are always logged."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException

from arena.errors import BusError

logger = logging.getLogger("arena.bus")


def log_broker_error(err: KafkaError) -> None:
    """``error_cb`` for confluent-kafka clients: log every client-level error, fatal ones louder.

    librdkafka retries most of these itself (a broker going away, a timeout); they surface to
    the code that is affected when they stop being transient, so here they are only reported.
    """
    if err.fatal():
        logger.critical("kafka fatal error: %s", err)
    elif err.code() == KafkaError._ALL_BROKERS_DOWN:
        logger.error("kafka: all brokers are down: %s", err)
    else:
        logger.warning("kafka error: %s", err)


def kafka_error_of(exc: KafkaException) -> KafkaError | None:
    """The KafkaError a KafkaException carries, if any."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, KafkaError) else None


def as_bus_error(exc: KafkaException, doing: str) -> BusError:
    """Turn a KafkaException into a BusError that says what was being done and whether to retry."""
    err = kafka_error_of(exc)
    if err is None:
        return BusError(f"{doing}: {exc}")
    return BusError(f"{doing}: {err.str()} ({err.name()})", retriable=err.retriable())
