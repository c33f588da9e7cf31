"""The whole loop on the secure stack, each service with only its own role's credentials
(Kafka principal, PostgreSQL login, MinIO user): an operator bootstraps a champion, a
producer publishes photos and labels, the scorer predicts every photo exactly once, the
trainer registers a challenger and the evaluator decides on it (issue 9)."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import psycopg
import pytest
from confluent_kafka import Consumer
from psycopg import sql
from pydantic import SecretStr

from arena.bus.producer import make_producer
from arena.bus.stop import StopFlag
from arena.bus.topics import default_topics, ensure_topics
from arena.config import DatabaseSettings, Settings, with_overrides
from arena.control import ControlPlane
from arena.datasets import load_mnist
from arena.errors import InvalidEvent
from arena.events import (
    ContentType,
    ImageEvent,
    LabelEvent,
    decode_prediction,
    encode_image_event,
    encode_label_event,
    now_ms,
)
from arena.images import encode_png
from arena.signing import ArtifactSigner
from arena.stack.credentials import ADMIN, StackCredentials, principal
from evaluator.app import run_evaluator
from evaluator.handle import EvaluatorHandle
from scorer.app import ScorerHandle, run_scorer
from storage import migrate
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.decisions import Decisions
from storage.registry import Registry
from storage.roles import create_login
from trainer.app import TrainerHandle, run_trainer

EVENTS = 1_500
DB_ROLES = {"scorer": "arena_scorer", "trainer": "arena_trainer", "evaluator": "arena_evaluator"}


def as_admin(settings: Settings, credentials: StackCredentials) -> Settings:
    """The stack's Kafka super user (topic creation, reading what landed)."""
    return with_overrides(settings, kafka=_sasl(ADMIN, credentials.kafka_admin_password))


def _sasl(role: str, password: str) -> dict[str, str]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": principal(role),
        "sasl_password": password,
    }


@pytest.fixture(scope="module")
def deployment(secure_settings: Settings, credentials: StackCredentials) -> Iterator[Settings]:
    """The admin's settings on a fresh database, with the default topic names (the ACLs
    name them) and a model-alias prefix of its own."""
    name = f"arena_lp_{uuid.uuid4().hex[:10]}"
    admin = secure_settings.db
    with _connect(admin, "postgres") as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    settings = with_overrides(
        secure_settings,
        db={"name": name},
        s3={"alias_prefix": f"aliases/lp_{uuid.uuid4().hex[:8]}"},
        trainer={"finetune_every_labels": 200, "window_size": 1_000, "reservoir_size": 200},
        evaluator={"min_samples": 60, "interval_s": 1.0, "max_samples": 300},
        scorer={"batch_timeout_ms": 50},
    )
    migrate.upgrade(settings.db)
    admin_kafka = as_admin(settings, credentials).kafka
    ensure_topics(admin_kafka, default_topics(admin_kafka))
    try:
        yield settings
    finally:
        with _connect(admin, "postgres") as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def as_role(settings: Settings, credentials: StackCredentials, role: str) -> Settings:
    """``settings`` with only ``role``'s credentials on all three servers."""
    overrides: dict[str, dict[str, str]] = {
        "kafka": _sasl(role, credentials.kafka[role]),
        "s3": {"access_key": principal(role), "secret_key": credentials.minio[role]},
    }
    if role in DB_ROLES or role == "operator":
        password = secrets.token_urlsafe(16)
        user = f"lp_{role}_{uuid.uuid4().hex[:6]}"
        create_login(settings.db, user, role, SecretStr(password))
        overrides["db"] = {"user": user, "password": password}
    return with_overrides(settings, **overrides)


def test_the_loop_runs_with_least_privilege(
    deployment: Settings, credentials: StackCredentials
) -> None:
    operator = as_role(deployment, credentials, "operator")
    with ArtifactStore(operator.s3) as store:
        control = ControlPlane(
            Registry(make_engine(operator.db)), store, make_producer(operator.kafka), operator.kafka
        )
        champion = control.bootstrap(
            "keras",
            samples=1_500,
            epochs=1,
            actor="ops",
            signer=ArtifactSigner(operator.signing.key),
        )

    stops: list[StopFlag] = []
    errors: list[BaseException] = []
    scorer, trainer, evaluator = ScorerHandle("lp-scorer-1"), TrainerHandle(), EvaluatorHandle()

    def spawn(target: Callable[..., None], settings: Settings, handle: object) -> None:
        stop = StopFlag()
        stops.append(stop)

        def body() -> None:
            try:
                target(settings, stop, handle)
            except BaseException as exc:
                errors.append(exc)

        threading.Thread(target=body, daemon=True).start()

    scorer_settings = as_role(deployment, credentials, "scorer")
    scorer_settings = with_overrides(scorer_settings, scorer={"scorer_id": "lp-scorer-1"})
    spawn(run_scorer, scorer_settings, scorer)
    spawn(run_trainer, as_role(deployment, credentials, "trainer"), trainer)
    spawn(run_evaluator, as_role(deployment, credentials, "evaluator"), evaluator)
    try:
        ids = _publish(as_role(deployment, credentials, "producer"))
        admin = as_admin(deployment, credentials)
        seen = _predictions(admin, set(ids), timeout_s=180, errors=errors)
        deadline = time.monotonic() + 180
        while not evaluator.decisions and time.monotonic() < deadline and not errors:
            time.sleep(0.5)
    finally:
        for stop in stops:
            stop.set()
        time.sleep(3)
    assert not errors, errors
    assert set(seen) == set(ids) and max(seen.values()) == 1  # every photo exactly once
    assert trainer.registered, "the trainer registered no challenger"
    assert evaluator.decisions, "the evaluator decided nothing"
    decisions = Decisions(make_engine(deployment.db)).recent()
    assert decisions and decisions[0].champion_version >= champion.id


def _publish(producer_settings: Settings) -> list[str]:
    data = load_mnist()
    producer = make_producer(producer_settings.kafka)
    kafka = producer_settings.kafka
    run = uuid.uuid4().hex[:8]
    ids = []
    for i in range(EVENTS):
        event_id = f"lp-{run}-{i}"
        event = ImageEvent(
            event_id, now_ms(), "drone-1", ContentType.PNG, encode_png(data.x_test[i])
        )
        producer.produce(kafka.image_topic, encode_image_event(event), event_id.encode())
        producer.produce(
            kafka.label_topic,
            encode_label_event(LabelEvent(event_id, int(data.y_test[i]), now_ms())),
            event_id.encode(),
        )
        ids.append(event_id)
        if i % 100 == 0:
            producer.poll(0)
            time.sleep(0.2)
    assert producer.flush(30) == 0
    return ids


def _predictions(
    admin: Settings, wanted: set[str], timeout_s: float, errors: list[BaseException]
) -> Counter[str]:
    """Committed predictions of ``wanted`` events, read as the admin."""
    consumer = Consumer(
        {
            **admin.kafka.client_config(),
            "group.id": f"lp-reader-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([admin.kafka.prediction_topic])
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + timeout_s
    try:
        while not wanted <= set(seen) and time.monotonic() < deadline and not errors:
            for m in consumer.consume(500, 1.0):
                if m.error() is not None:
                    continue
                try:
                    event = decode_prediction(m.value())
                except InvalidEvent:
                    continue  # the ACL tests' forged records share these topics
                if event.event_id in wanted:
                    seen[event.event_id] += 1
    finally:
        consumer.close()
    return seen


def _connect(db: DatabaseSettings, dbname: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=db.host,
        port=db.port,
        dbname=dbname,
        user=db.user,
        password=db.password.get_secret_value(),
        autocommit=True,
    )
