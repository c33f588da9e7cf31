"""Attacks on the trust boundary, on the real stack: someone holding the database and bucket
credentials, but not ARENA_SIGNING_KEY, tries to make the services run their code, or to
serve a version the registry does not serve."""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from sqlalchemy import text

from arena.datasets import load_mnist
from arena.demo.collect import Collector
from arena.demo.fleet import Fleet
from arena.errors import UntrustedArtifact
from arena.events import (
    SERVING_KEY,
    ModelEvent,
    ModelEventKind,
    ScorerStatus,
    decode_scorer_status,
    encode_model_event,
)
from storage.db import make_engine
from storage.domain import ModelVersion
from storage.model_loader import ModelLoader
from trainer.fine_tune import Trainer

from .conftest import Loop, Models
from .test_operations import publish, wait_for


class CreatesFile:
    """Unpickling this creates ``path``: if the file exists, attacker code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def statuses(loop: Loop) -> list[ScorerStatus]:
    consumer = Consumer(
        {
            "bootstrap.servers": loop.settings.kafka.bootstrap,
            "group.id": f"test-status-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(loop.settings.kafka.scorer_status_topic, 0, OFFSET_BEGINNING)])
    out = []
    try:
        for msg in consumer.consume(10_000, 2):
            if msg.error() is None:
                out.append(decode_scorer_status(msg.value()))
    finally:
        consumer.close()
    return out


def refusals(loop: Loop, version: int) -> dict[str, str]:
    return {
        s.scorer_id: s.error
        for s in statuses(loop)
        if s.state == "load_failed" and s.version == version
    }


def announce(loop: Loop, version: ModelVersion) -> None:
    """What an attacker with access to the control topic writes."""
    event = ModelEvent(
        ModelEventKind.PROMOTED,
        version.id,
        version.artifact.uri,
        version.artifact.sha256,
        version.flavor,
        reason="totally legit",
        actor="attacker",
    )
    producer = Producer({"bootstrap.servers": loop.settings.kafka.bootstrap})
    producer.produce(loop.settings.kafka.model_topic, encode_model_event(event), SERVING_KEY)
    assert producer.flush(10) == 0


def forge(loop: Loop, marker: Path, signature: str) -> ModelVersion:
    """The attacker's version: a pickle that creates ``marker``, uploaded to the bucket and
    registered with the attacker's database credentials, then made champion by SQL."""
    ref = loop.store.put(pickle.dumps(CreatesFile(marker)))
    forged = loop.registry.register_version(
        "river", ref, parent_id=None, training_ranges=(), hyperparameters={}, signature=signature
    )
    with make_engine(loop.settings.db).begin() as sql:
        sql.execute(text("UPDATE model_versions SET status = 'retired' WHERE status = 'champion'"))
        sql.execute(
            text("UPDATE model_versions SET status = 'champion' WHERE id = :id"), {"id": forged.id}
        )
    return forged


@pytest.fixture
def serving(loop: Loop, models: Models) -> Iterator[tuple[Fleet, Collector]]:
    """v1 (good, signed) is champion and one scorer serves it."""
    v1 = loop.register(models.good)
    loop.control.promote(v1.id, reason="initial", actor="test")
    collector = Collector(loop.settings.kafka)
    collector.start()
    fleet = Fleet(loop.settings)
    fleet.start(1, trainer=False, evaluator=False)
    wait_for(lambda: collector.serving_versions() == {"scorer-1": 1}, 120, "the scorer to serve v1")
    yield fleet, collector
    fleet.stop()
    collector.stop()
    collector.join(10)
    assert not fleet.errors, fleet.errors


@pytest.mark.parametrize("signature", ["", "hmac-sha256/1:" + "0" * 64])
def test_a_forged_pickle_is_refused_by_every_service(
    loop: Loop, serving: tuple[Fleet, Collector], tmp_path: Path, signature: str
) -> None:
    _, collector = serving
    marker = tmp_path / "attacker-code-ran"
    forged = forge(loop, marker, signature)
    announce(loop, forged)

    wait_for(lambda: "scorer-1" in refusals(loop, forged.id), 30, "the scorer to refuse it")
    assert "refusing to load it" in refusals(loop, forged.id)["scorer-1"]
    ids = publish(loop, 0, 200)
    wait_for(lambda: all(i in collector.observed.first for i in ids), 30, "predictions")
    assert {collector.observed.first[i][0] for i in ids} == {1}, "the champion kept serving"

    # The trainer fine-tunes from the champion, the evaluator scores it: both refuse it.
    trainer = Trainer(loop.settings, loop.registry, loop.store)
    with pytest.raises(UntrustedArtifact):
        trainer.models.model(loop.registry.get_version(forged.id))
    evaluator_loader = ModelLoader(loop.registry, loop.store, trainer.signer)
    with pytest.raises(UntrustedArtifact):
        evaluator_loader.load(forged.id)
    assert not marker.exists(), "the attacker's pickle was executed"


def test_an_announced_candidate_is_refused_and_the_champion_keeps_serving(
    loop: Loop, models: Models, serving: tuple[Fleet, Collector]
) -> None:
    _, collector = serving
    unique = models.good.clone()
    digits = load_mnist()
    unique.fit(digits.x_train[:64] / 255.0, digits.y_train[:64], epochs=1, learning_rate=1e-4)
    candidate = loop.register(unique, parent=1)  # properly signed, but never promoted
    announce(loop, candidate)

    wait_for(lambda: "scorer-1" in refusals(loop, candidate.id), 30, "the scorer to refuse it")
    error = refusals(loop, candidate.id)["scorer-1"]
    assert f"version {candidate.id} is not what the registry serves (version 1)" in error
    ids = publish(loop, 500, 200)
    wait_for(lambda: all(i in collector.observed.first for i in ids), 30, "predictions")
    assert {collector.observed.first[i][0] for i in ids} == {1}
