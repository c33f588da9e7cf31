"""`arena status` and `arena dlq` against a deployment of their own on the real servers."""

from __future__ import annotations

import csv
import io
import json

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from typer.testing import CliRunner

from arena.bus.dlq import dead_letter_record
from arena.bus.dlq_replay import ledger_topic
from arena.bus.producer import flush_or_raise, make_producer
from arena.bus.topics import delete_topics
from arena.cli.main import app, register_commands
from arena.config import KafkaSettings
from arena.events import ScorerStatus, encode_scorer_status, now_ms
from tests.unit.bus.fakes import FakeMessage

from .conftest import Loop, Models
from .test_evaluator import labeled, make_evaluator


@pytest.fixture
def ops_env(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> Loop:
    """The CLI's ARENA_* pointed at this test's topics, groups and database."""
    s = loop.settings
    monkeypatch.setenv("ARENA_DB_NAME", s.db.name)
    for name in ("image_topic", "label_topic", "prediction_topic", "model_topic"):
        monkeypatch.setenv(f"ARENA_KAFKA_{name.upper()}", getattr(s.kafka, name))
    monkeypatch.setenv("ARENA_KAFKA_SCORER_STATUS_TOPIC", s.kafka.scorer_status_topic)
    monkeypatch.setenv("ARENA_SCORER_GROUP_ID", s.scorer.group_id)
    monkeypatch.setenv("ARENA_TRAINER_GROUP_ID", s.trainer.group_id)
    monkeypatch.setenv("ARENA_EVALUATOR_GROUP_ID", s.evaluator.group_id)
    register_commands()
    return loop


def _ack(kafka: KafkaSettings, *statuses: ScorerStatus) -> None:
    producer = make_producer(kafka)
    for s in statuses:
        producer.produce(
            kafka.scorer_status_topic, encode_scorer_status(s), key=s.scorer_id.encode()
        )
    flush_or_raise(producer, 10)


def _all_records(kafka: KafkaSettings, topic: str, partitions: int) -> list[tuple[int, object]]:
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": "test-ops-reader",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    found, ends = [], set()
    for _ in range(60):
        for msg in consumer.consume(500, timeout=0.5):
            err = msg.error()
            if err is None:
                found.append((msg.partition(), dict(msg.headers() or [])))
            elif err.code() == KafkaError._PARTITION_EOF:
                ends.add(msg.partition())
        if len(ends) == partitions:
            break
    consumer.close()
    assert len(ends) == partitions, "the topic's end was not reached"
    return found


def test_status_reports_the_fleet_and_fails_when_it_is_split(ops_env: Loop, models: Models) -> None:
    loop = ops_env
    champion = loop.register(models.good)
    loop.control.promote(champion.id, reason="initial", actor="test")
    runner = CliRunner()
    _ack(
        loop.settings.kafka,
        ScorerStatus("scorer-1", champion.id, "serving"),
        ScorerStatus("scorer-2", champion.id, "serving"),
    )

    healthy = runner.invoke(app, ["status", "--format", "json"])
    assert healthy.exit_code == 0, healthy.output
    report = json.loads(healthy.output)
    assert (report["champion"], report["serving"], report["pin"]) == (
        champion.id,
        champion.id,
        None,
    )
    assert [(s["scorer_id"], s["up_to_date"]) for s in report["scorers"]] == [
        ("scorer-1", True),
        ("scorer-2", True),
    ]
    groups = {(g["group"], g["topic"]) for g in report["lag"]}
    s = loop.settings
    assert (s.scorer.group_id, s.kafka.image_topic) in groups
    assert (s.trainer.group_id, s.kafka.label_topic) in groups
    assert (s.evaluator.group_id, s.kafka.image_topic) in groups
    scorer_lag = next(g for g in report["lag"] if g["group"] == s.scorer.group_id)
    assert len(scorer_lag["partitions"]) == s.kafka.partitions

    other = loop.register(models.bad, parent=champion.id)
    _ack(loop.settings.kafka, ScorerStatus("scorer-2", other.id, "serving"))
    split = runner.invoke(app, ["status", "--format", "json"])
    assert split.exit_code == 1, split.output
    problems = json.loads(split.output)["problems"]
    assert any(p.startswith("split:") for p in problems), problems

    _ack(loop.settings.kafka, ScorerStatus("scorer-2", other.id, "load_failed", "bad signature"))
    refused = runner.invoke(app, ["status"])
    assert refused.exit_code == 1 and "bad signature" in refused.output

    loop.control.pin(champion.id, reason="audit", actor="test")
    _ack(loop.settings.kafka, ScorerStatus("scorer-2", champion.id, "serving"))
    pinned = runner.invoke(app, ["status", "--format", "json"])
    assert pinned.exit_code == 0, pinned.output
    assert json.loads(pinned.output)["pin"]["version"] == champion.id

    # A scorer retired on another version, not heard from in 3 heartbeats: listed as stale,
    # neither a split nor stuck (while the others beat).
    long_ago = now_ms() - int(4 * loop.settings.scorer.heartbeat_s * 1000)
    _ack(
        loop.settings.kafka,
        ScorerStatus("scorer-1", champion.id, "serving"),
        ScorerStatus("scorer-2", champion.id, "serving"),
        ScorerStatus("scorer-3", other.id, "serving", timestamp_ms=long_ago),
    )
    retired = runner.invoke(app, ["status", "--format", "json"])
    assert retired.exit_code == 0, retired.output
    assert {s["scorer_id"]: s["stale"] for s in json.loads(retired.output)["scorers"]} == {
        "scorer-1": False,
        "scorer-2": False,
        "scorer-3": True,
    }
    assert "(stale)" in runner.invoke(app, ["status"]).output

    assert runner.invoke(app, ["status", "--format", "csv"]).exit_code == 2  # not a choice


def test_dlq_list_show_and_replay_each_letter_once(ops_env: Loop) -> None:
    loop = ops_env
    kafka = loop.settings.kafka
    images = kafka.image_topic
    ledgers = [ledger_topic(kafka.dlq_topic(t)) for t in (images, kafka.label_topic)]
    try:
        _list_show_replay(loop, kafka, images)
    finally:
        delete_topics(kafka, ledgers)


def _list_show_replay(loop: Loop, kafka: KafkaSettings, images: str) -> None:
    producer = make_producer(kafka)
    reasons = ["image a: missing object", "image b: missing object", "image c: bad magic"]
    for i, reason in enumerate(reasons):
        origin = FakeMessage(images, 1, 40 + i, key_=f"id-{i}".encode(), value_=b"frame-%d" % i,
                             headers_=[("trace", b"t-%d" % i)])  # fmt: skip
        record = dead_letter_record(origin, reason, kafka)
        producer.produce(
            record.topic, record.value, record.key, partition=0, headers=record.headers
        )
    flush_or_raise(producer, 10)
    runner = CliRunner()

    listed = runner.invoke(app, ["dlq", "list", images, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["offset"], r["origin_offset"], r["error"], r["replayed"]) for r in rows] == [
        (0, 40, reasons[0], False),
        (1, 41, reasons[1], False),
        (2, 42, reasons[2], False),
    ]
    assert runner.invoke(app, ["dlq", "list", "--format", "xml"]).exit_code == 2

    shown = runner.invoke(app, ["dlq", "show", images, "0:2"])
    assert shown.exit_code == 0, shown.output
    one = json.loads(shown.output)
    assert (one["key"], one["headers"]["trace"], one["origin_partition"]) == ("id-2", "t-2", 1)

    assert runner.invoke(app, ["dlq", "replay", images]).exit_code == 2  # nothing chosen
    first = runner.invoke(app, ["dlq", "replay", images, "--reason", "missing object"])
    assert first.exit_code == 0, first.output
    assert "replayed 2, skipped 0" in first.output
    again = runner.invoke(app, ["dlq", "replay", images, "--from", "0", "--to", "2"])
    assert again.exit_code == 0, again.output
    assert "replayed 1, skipped 2" in again.output
    assert "replayed 0, skipped 3" in runner.invoke(app, ["dlq", "replay", images, "--all"]).output

    copies = _all_records(kafka, images, kafka.partitions)
    assert sorted(h["replay.of"].decode() for _, h in copies) == [
        f"{images}.dlq:0:{i}" for i in range(3)
    ]
    assert all(p == 1 and "error" not in h and "trace" in h for p, h in copies)
    marked = json.loads(runner.invoke(app, ["dlq", "list", images, "--format", "json"]).output)
    assert all(r["replayed"] for r in marked)


def test_models_and_history_formats_and_time_range(ops_env: Loop, models: Models) -> None:
    loop = ops_env
    champion = loop.register(models.good)
    loop.control.promote(champion.id, reason="initial", actor="test")
    evaluator, _ = make_evaluator(loop)
    for example in labeled(400):
        evaluator.add(example)
    evaluator.evaluate()
    runner = CliRunner()

    [only] = json.loads(runner.invoke(app, ["models", "--format", "json"]).output)
    assert (only["artifact_uri"], only["sha256"]) == (
        champion.artifact.uri,
        champion.artifact.sha256,
    )
    as_csv = runner.invoke(app, ["models", "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    [row] = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert (row["version"], row["sha256"], row["serving"]) == (
        str(champion.id),
        champion.artifact.sha256,
        "True",
    )
    assert runner.invoke(app, ["models", "--format", "yaml"]).exit_code == 2

    points = json.loads(runner.invoke(app, ["history", "--format", "json"]).output)
    assert points
    stamp = points[0]["computed_at"]
    later = runner.invoke(app, ["history", "--format", "json", "--since", "2999-01-01T00:00:00"])
    assert json.loads(later.output) == []
    before = runner.invoke(app, ["history", "--format", "json", "--until", stamp])
    assert json.loads(before.output) == []  # until is exclusive
    window = ["history", "--format", "json", "--since", stamp, "--until", "2999-01-01T00:00:00"]
    assert len(json.loads(runner.invoke(app, window).output)) == len(points)
