"""Issue 10 end to end: control changes reach a webhook; the trainer and the evaluator run
their scheduled jobs and serve /metrics."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from apscheduler.triggers.date import DateTrigger
from prometheus_client.parser import text_string_to_metric_families

from arena.bus.producer import make_producer
from arena.bus.stop import StopFlag
from arena.config import Settings, WebhookSettings, with_overrides
from arena.control import ControlPlane
from arena.datasets import load_mnist
from arena.demo.stream import StreamPlan, build_stream, publish
from arena.flavors.pretrain import train_initial
from arena.schedules import ScheduleBook
from arena.webhooks import SIGNATURE_HEADER, WebhookNotifier
from evaluator.app import run_evaluator
from evaluator.handle import EvaluatorHandle
from storage.db import make_engine
from storage.domain import ModelVersion, VersionStatus
from trainer.app import TrainerHandle, run_trainer

from .conftest import Loop

SECRET = "test-webhook-secret"


def _wait(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _scrape(port: int) -> dict[str, float]:
    """Every sample of /metrics by name (labels appended as name{k=v})."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return samples


def _sklearn_champion(loop: Loop) -> ModelVersion:
    data = load_mnist()
    model = train_initial("sklearn", data.x_train[:500], data.y_train[:500], epochs=1, seed=0)
    version = loop.register(model)
    loop.control.promote(version.id, reason="initial", actor="test")
    return version


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[bytes, str]]]]:
    got: list[tuple[bytes, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(
                (
                    self.rfile.read(int(self.headers["Content-Length"])),
                    self.headers[SIGNATURE_HEADER],
                )
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", got
    server.shutdown()


def test_every_control_change_reaches_the_webhook_signed(
    loop: Loop, receiver: tuple[str, list[tuple[bytes, str]]]
) -> None:
    url, got = receiver
    notifier = WebhookNotifier(WebhookSettings(urls=(url,), secret=SECRET))
    control = ControlPlane(
        loop.registry, loop.store, make_producer(loop.settings.kafka), loop.settings.kafka, notifier
    )
    data = load_mnist()
    model = train_initial("sklearn", data.x_train[:300], data.y_train[:300], epochs=1, seed=0)
    v1, v2 = loop.register(model), loop.register(model.clone())

    control.promote(v1.id, reason="first", actor="ops")
    control.promote(v2.id, reason="better", actor="evaluator")
    control.pin(v1.id, reason="freeze", actor="ops")
    control.unpin(reason="thaw", actor="ops")
    control.rollback(reason="bad", actor="ops")
    _wait(lambda: len(got) == 5, 15)
    notifier.close()

    bodies = [json.loads(body) for body, _ in got]
    assert [(b["kind"], b["version"], b["previous"], b["serving"]) for b in bodies] == [
        ("promote", v1.id, None, v1.id),
        ("promote", v2.id, v1.id, v2.id),
        ("pin", v1.id, v2.id, v1.id),
        ("unpin", v2.id, v1.id, v2.id),
        ("rollback", v1.id, v2.id, v1.id),
    ]
    assert [b["actor"] for b in bodies] == ["ops", "evaluator", "ops", "ops", "ops"]
    for body, sig in got:
        assert sig == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def _publish(settings: Settings, events: int) -> None:
    plan = StreamPlan(events=events, drift_at=events, label_fraction=1.0,
                      label_delay_events=(1, 5), rate_per_s=10_000)  # fmt: skip
    stream, truth = build_stream(plan)
    producer = make_producer(settings.kafka)
    k = settings.kafka
    publish(plan, stream, truth, producer, k.image_topic, k.label_topic, lambda _: None)
    producer.flush(30)


def _soon() -> DateTrigger:
    return DateTrigger(run_date=datetime.now(UTC) + timedelta(seconds=1))


def _run(
    target: Callable[..., None], settings: Settings, handle: Any
) -> tuple[StopFlag, threading.Thread]:
    stop = StopFlag()
    thread = threading.Thread(target=target, args=(settings, stop, handle), daemon=True)
    thread.start()
    assert handle.started.wait(60)
    return stop, thread


def test_a_scheduled_retrain_fine_tunes_and_the_trainer_serves_metrics(loop: Loop) -> None:
    champion = _sklearn_champion(loop)
    # No fine-tune on the label count: only the scheduled job trains here.
    settings = with_overrides(
        loop.settings, trainer={"flavor": "sklearn", "finetune_every_labels": 100_000, "epochs": 1}
    )
    _publish(settings, 400)
    handle = TrainerHandle(schedule_check_s=0.2)
    stop, thread = _run(run_trainer, settings, handle)
    try:
        _wait(lambda: _scrape(handle.metrics_port).get("arena_trainer_join_joined_total", 0) >= 400)
        _wait(lambda: _scrape(handle.metrics_port)["arena_trainer_replay_examples"] > 0)
        before = _scrape(handle.metrics_port)
        assert before["arena_trainer_fine_tunes_total"] == 0
        assert before["arena_trainer_replay_examples"] > 0  # 400 minus the holdout
        assert before["arena_trainer_join_labels_waiting"] == 0

        ScheduleBook(make_engine(settings.db), key=settings.signing.key).add(
            "retrain-soon", "retrain", _soon()
        )
        _wait(lambda: _scrape(handle.metrics_port)["arena_trainer_fine_tunes_total"] == 1)
        after = _scrape(handle.metrics_port)
        assert after["arena_trainer_scheduled_runs_total"] == 1
        assert (
            after["arena_trainer_examples_trained_total"] == before["arena_trainer_replay_examples"]
        )
        assert after["arena_trainer_fine_tune_seconds_count"] == 1
        [challenger] = loop.registry.list_versions(VersionStatus.CANDIDATE)
        assert challenger.parent_id == champion.id
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()


def test_a_scheduled_evaluation_runs_a_round_and_the_evaluator_serves_metrics(loop: Loop) -> None:
    champion = _sklearn_champion(loop)
    # Rounds only when the scheduled job asks for one.
    settings = with_overrides(loop.settings, evaluator={"interval_s": 3600, "min_samples": 100})
    _publish(settings, 300)
    handle = EvaluatorHandle(schedule_check_s=0.2)
    stop, thread = _run(run_evaluator, settings, handle)
    try:
        assert _scrape(handle.metrics_port)["arena_evaluator_rounds_total"] == 0
        ScheduleBook(make_engine(settings.db), key=settings.signing.key).add(
            "evaluate-soon", "evaluate", _soon()
        )
        _wait(lambda: _scrape(handle.metrics_port)["arena_evaluator_rounds_total"] == 1)
        m = _scrape(handle.metrics_port)
        assert m["arena_evaluator_scheduled_runs_total"] == 1
        assert m["arena_evaluator_champion_version"] == champion.id
        assert m["arena_evaluator_probation_open"] == 0
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
