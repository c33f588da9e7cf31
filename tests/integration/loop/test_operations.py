"""Operators and faults on the real stack: pin, unpin, rollback, a bad artifact, while two
scorers serve a live topic."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator

import pytest
from minio import Minio

from arena.bus.producer import make_producer
from arena.datasets import load_mnist
from arena.demo.collect import Collector
from arena.demo.fleet import Fleet
from arena.events import ContentType, ImageEvent, encode_image_event, now_ms
from storage.artifacts import parse_s3_uri
from storage.domain import VersionStatus

from .conftest import Loop, Models

# A switch is a download, a load and a warm-up: seconds on a quiet machine, but CI's
# shared cores have taken more than 20 s (this asserts the switch, not its speed).
SWITCH_S = 60


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def serving(loop: Loop, models: Models) -> Iterator[tuple[Fleet, Collector]]:
    """v1 (good) is champion and both scorers serve it."""
    v1 = loop.register(models.good)
    loop.control.promote(v1.id, reason="initial", actor="test")
    collector = Collector(loop.settings.kafka)
    collector.start()
    fleet = Fleet(loop.settings)
    fleet.start(2, trainer=False, evaluator=False)
    wait_for(
        lambda: collector.serving_versions() == {"scorer-1": 1, "scorer-2": 1},
        120,
        "both scorers to serve v1",
    )
    yield fleet, collector
    fleet.stop()
    collector.stop()
    collector.join(10)
    assert not fleet.errors, fleet.errors


def publish(loop: Loop, start: int, n: int) -> list[str]:
    digits = load_mnist().x_test
    producer = make_producer(loop.settings.kafka)
    ids = []
    for i in range(start, start + n):
        event = ImageEvent(
            f"op-{i}",
            now_ms(),
            "test",
            ContentType.RAW_GRAY8,
            digits[i].tobytes(),
            height=28,
            width=28,
        )
        producer.produce(
            loop.settings.kafka.image_topic, encode_image_event(event), event.event_id.encode()
        )
        ids.append(event.event_id)
    producer.flush(30)
    return ids


def test_pin_unpin_and_rollback_switch_every_scorer(
    loop: Loop, models: Models, serving: tuple[Fleet, Collector]
) -> None:
    _, collector = serving
    v2 = loop.register(models.good.clone(), parent=1)
    v3 = loop.register(models.bad, parent=1)

    loop.control.pin(v2.id, reason="freeze for the audit", actor="ops")
    wait_for(lambda: set(collector.serving_versions().values()) == {v2.id}, SWITCH_S, "pin to v2")
    loop.control.promote(v3.id, reason="operator promotes v3 while v2 is pinned", actor="ops")
    time.sleep(1.0)  # a promotion under a pin must not move the scorers
    assert set(collector.serving_versions().values()) == {v2.id}

    loop.control.unpin(reason="audit done", actor="ops")
    wait_for(lambda: set(collector.serving_versions().values()) == {v3.id}, SWITCH_S, "unpin to v3")

    loop.control.rollback(reason="v3 is bad", actor="ops")
    wait_for(lambda: set(collector.serving_versions().values()) == {1}, SWITCH_S, "rollback to v1")
    assert loop.registry.get_version(v3.id).status == VersionStatus.REJECTED
    kinds = [p.kind.value for p in loop.registry.promotions()]
    assert kinds == ["promote", "pin", "promote", "unpin", "rollback"]

    ids = publish(loop, 0, 300)
    wait_for(lambda: all(i in collector.observed.first for i in ids), 30, "predictions")
    assert {collector.observed.first[i][0] for i in ids} == {1}
    assert all(collector.observed.counts[i] == 1 for i in ids)


def test_bad_artifact_is_refused_and_the_champion_keeps_serving(
    loop: Loop, models: Models, serving: tuple[Fleet, Collector]
) -> None:
    fleet, collector = serving
    unique = models.good.clone()  # its own bytes, so tampering touches no other version
    digits = load_mnist()
    unique.fit(digits.x_train[:64] / 255.0, digits.y_train[:64], epochs=1, learning_rate=1e-4)
    tampered = loop.register(unique, parent=1)
    bucket, key = parse_s3_uri(tampered.artifact.uri)
    s3 = loop.settings.s3
    raw = Minio(
        s3.endpoint,
        access_key=s3.access_key,
        secret_key=s3.secret_key.get_secret_value(),
        secure=s3.secure,
    )
    junk = b"not a keras model" * 100
    raw.put_object(bucket, key, io.BytesIO(junk), len(junk))  # behind the registry's back

    loop.control.promote(tampered.id, reason="promote a tampered artifact", actor="test")
    wait_for(
        lambda: all(
            h.reloader is not None and h.reloader.counters.failed >= 1 for h in fleet.scorers
        ),
        30,
        "both scorers to refuse the artifact",
    )
    assert "sha256" in (fleet.scorers[0].reloader.counters.last_error or "")  # type: ignore[union-attr]

    ids = publish(loop, 1000, 300)
    wait_for(lambda: all(i in collector.observed.first for i in ids), 30, "predictions")
    assert {collector.observed.first[i][0] for i in ids} == {1}, "the champion kept serving"
    assert set(collector.serving_versions().values()) == {1}
