from __future__ import annotations

import os
from typing import Any

import pytest

from arena.bus.producer import flush_or_raise, make_producer
from arena.config import KafkaSettings
from arena.errors import DeliveryError
from tests.integration.bus.conftest import MakeTopic, read_topic


def test_a_record_the_broker_rejects_raises_delivery_error_naming_topic_and_error(
    kafka: KafkaSettings, make_topic: MakeTopic
) -> None:
    topic = make_topic("small", **{"max.message.bytes": "1024"})
    no_linger: dict[str, Any] = {"linger.ms": 0}
    producer = make_producer(kafka, **no_linger)
    producer.produce(topic, os.urandom(20_000), b"too-big")

    with pytest.raises(DeliveryError) as raised:
        flush_or_raise(producer, 30.0)

    assert topic in str(raised.value)
    assert "MSG_SIZE_TOO_LARGE" in str(raised.value)
    assert not raised.value.retriable


def test_delivered_records_flush_cleanly_and_failures_are_not_reported_twice(
    kafka: KafkaSettings, make_topic: MakeTopic
) -> None:
    topic = make_topic("ok", **{"max.message.bytes": "1024"})
    producer = make_producer(kafka)
    producer.produce(topic, os.urandom(20_000), b"too-big")
    with pytest.raises(DeliveryError):
        flush_or_raise(producer, 30.0)

    producer.produce(topic, b"fine", b"k")
    flush_or_raise(producer, 30.0)

    assert [m.value() for m in read_topic(kafka, topic, at_least=1)] == [b"fine"]
