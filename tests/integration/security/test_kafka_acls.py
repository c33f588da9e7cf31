"""Kafka on a secure stack: who may write the control topic (issue 9)."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import KafkaError, Producer
from pydantic import SecretStr

from arena.bus.compacted import latest_by_key
from arena.config import KafkaSettings, Settings
from arena.stack.credentials import StackCredentials, principal


def _as(settings: Settings, credentials: StackCredentials, role: str) -> KafkaSettings:
    return settings.kafka.model_copy(
        update={
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": principal(role),
            "sasl_password": SecretStr(credentials.kafka[role]),
        }
    )


def _write(config: dict[str, str], topic: str, key: bytes) -> KafkaError | None:
    """Produce one record and wait for its delivery report: the error, or None."""
    reports: list[KafkaError | None] = []
    producer = Producer({**config, "message.timeout.ms": 6000, "log_level": 0})
    producer.produce(topic, b"forged", key, on_delivery=lambda err, _msg: reports.append(err))
    producer.flush(15)
    assert reports, "no delivery report within 15 s"
    return reports[0]


def test_only_the_operator_and_the_evaluator_write_the_control_topic(
    secure_settings: Settings, credentials: StackCredentials
) -> None:
    topic = secure_settings.kafka.model_topic
    run = uuid.uuid4().hex[:8]

    anonymous = _write(
        {"bootstrap.servers": secure_settings.kafka.bootstrap}, topic, b"anon-" + run.encode()
    )
    assert anonymous is not None  # the SASL listener never lets an unauthenticated client in

    wrong = _as(secure_settings, credentials, "operator").model_copy(
        update={"sasl_password": SecretStr("not-the-password")}
    )
    assert _write(wrong.client_config(), topic, b"wrong-" + run.encode()) is not None

    for role in ("scorer", "producer", "trainer"):
        err = _write(_as(secure_settings, credentials, role).client_config(), topic, role.encode())
        assert err is not None, f"{role} wrote the control topic"
        assert err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err

    operator = _as(secure_settings, credentials, "operator")
    assert _write(operator.client_config(), topic, b"op-" + run.encode()) is None

    # What landed, read back by the operator: only its own record of this run.
    keys = set(latest_by_key(operator, topic, timeout_s=20))
    assert f"op-{run}".encode() in keys
    assert not {f"anon-{run}".encode(), f"wrong-{run}".encode()} & keys


@pytest.mark.parametrize(
    ("role", "topic_field", "allowed"),
    [
        ("scorer", "prediction_topic", True),
        ("scorer", "label_topic", False),
        ("producer", "image_topic", True),
        ("producer", "prediction_topic", False),
        ("evaluator", "model_topic", True),
    ],
)
def test_each_role_writes_only_its_topics(
    secure_settings: Settings,
    credentials: StackCredentials,
    role: str,
    topic_field: str,
    allowed: bool,
) -> None:
    kafka = _as(secure_settings, credentials, role)
    err = _write(kafka.client_config(), getattr(kafka, topic_field), b"probe")
    assert (err is None) is allowed, err
