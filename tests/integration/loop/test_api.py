"""``arena api`` against a real registry, MinIO and Kafka: every endpoint, tokens and roles,
and the CLI's errors as 4xx JSON."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Consumer, TopicPartition
from fastapi.testclient import TestClient

from arena.api.app import create_app
from arena.bus.producer import make_producer
from arena.events import ModelEventKind, ScorerStatus, encode_scorer_status, now_ms
from storage.domain import ChallengerDecision, DecisionOutcome, Evaluation, OffsetRange

from .api_fixtures import as_operator, as_viewer, console_of, register_stub
from .conftest import Loop


@pytest.fixture
def client(loop: Loop) -> Iterator[TestClient]:
    with TestClient(create_app(console_of(loop))) as c:
        yield c


READS = [
    "/api/v1/versions",
    "/api/v1/history",
    "/api/v1/promotions",
    "/api/v1/pins",
    "/api/v1/decisions",
    "/api/v1/drift",
    "/api/v1/fleet",
    "/api/v1/versions/1",
]


@pytest.mark.parametrize("path", READS)
def test_reads_need_a_known_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    refused = client.get(path, headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401 and refused.json() == {"detail": "unknown token"}
    assert refused.headers["www-authenticate"] == "Bearer"


def test_actions_need_the_operator_role(loop: Loop, client: TestClient) -> None:
    v1 = register_stub(loop)
    loop.control.promote(v1.id, reason="initial", actor="test")
    pin = {"version": v1.id, "reason": "freeze"}

    assert client.post("/api/v1/pins", json=pin).status_code == 401
    as_vera = client.post("/api/v1/pins", json=pin, headers=as_viewer())
    assert as_vera.status_code == 403
    assert as_vera.json()["detail"] == "token 'vera' has role viewer; this needs operator"
    for method, path in [
        ("DELETE", "/api/v1/pins/current"),
        ("POST", "/api/v1/rollback"),
        ("POST", "/api/v1/promote"),
    ]:
        assert client.request(method, path, headers=as_viewer()).status_code == 403
    assert loop.registry.active_pin() is None


def test_versions_with_lineage_ranges_and_metrics(loop: Loop, client: TestClient) -> None:
    v1 = register_stub(loop)
    loop.control.promote(v1.id, reason="initial", actor="test")
    v2 = register_stub(loop, parent=v1.id)
    ranges = (OffsetRange("arena.images", 0, 10, 99), OffsetRange("arena.images", 1, 5, 50))
    v3 = register_stub(loop, parent=v2.id, ranges=ranges)
    now = datetime.now(UTC)
    loop.registry.record_evaluations(
        [
            Evaluation(v3.id, m, x, 200, now, now, now, role="challenger")
            for m, x in [("accuracy", 0.91), ("macro_f1", 0.9)]
        ]
    )

    listed = client.get("/api/v1/versions", headers=as_viewer()).json()
    assert [(v["id"], v["parent_id"], v["serving"]) for v in listed] == [
        (v1.id, None, True),
        (v2.id, v1.id, False),
        (v3.id, v2.id, False),
    ]
    champions = client.get("/api/v1/versions?status=champion", headers=as_viewer()).json()
    assert [v["id"] for v in champions] == [v1.id]
    assert client.get("/api/v1/versions?flavor=river", headers=as_viewer()).json() == []

    detail = client.get(f"/api/v1/versions/{v3.id}", headers=as_viewer()).json()
    assert [p["id"] for p in detail["lineage"]] == [v2.id, v1.id]
    assert detail["training_ranges"] == [
        {"topic": "arena.images", "partition": 0, "first": 10, "last": 99},
        {"topic": "arena.images", "partition": 1, "first": 5, "last": 50},
    ]
    assert detail["hyperparameters"] == {"epochs": 2}
    assert detail["latest_metrics"] == {"accuracy": 0.91, "macro_f1": 0.9}
    assert detail["artifact"]["sha256"] == v3.artifact.sha256

    unknown = client.get("/api/v1/versions/999", headers=as_viewer())
    assert unknown.status_code == 404 and unknown.json() == {"detail": "unknown model version 999"}
    assert client.get("/api/v1/versions?status=bogus", headers=as_viewer()).status_code == 422


def test_history_pages_filters_and_csv(loop: Loop, client: TestClient) -> None:
    v1, v2 = register_stub(loop), register_stub(loop)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    points = [
        Evaluation(v, "accuracy", 0.5 + i / 100, 100, t0, t0, t0 + timedelta(minutes=i), "champion")
        for i, v in enumerate([v1.id, v1.id, v2.id, v1.id, v2.id])
    ] + [Evaluation(v1.id, "log_loss", 0.3, 100, t0, t0, t0, "champion")]
    loop.registry.record_evaluations(points)
    url = "/api/v1/history?metric=accuracy"

    first = client.get(f"{url}&limit=2", headers=as_viewer()).json()
    assert (first["total"], first["next_offset"]) == (5, 2)
    assert [p["value"] for p in first["points"]] == [0.5, 0.51]
    rest = client.get(f"{url}&limit=10&offset=2", headers=as_viewer()).json()
    assert [p["value"] for p in rest["points"]] == [0.52, 0.53, 0.54]
    assert rest["next_offset"] is None

    window = f"{url}&version={v1.id}&since=2026-01-01T00:01:00Z&until=2026-01-01T00:04:00Z"
    assert [p["value"] for p in client.get(window, headers=as_viewer()).json()["points"]] == [
        0.51,
        0.53,
    ]
    assert client.get("/api/v1/history", headers=as_viewer()).json()["total"] == 6

    as_csv = client.get(f"{url}&limit=3", headers={**as_viewer(), "Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["x-next-offset"] == "3" and as_csv.headers["x-total-count"] == "5"
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(int(r["version_id"]), float(r["value"])) for r in rows] == [
        (v1.id, 0.5),
        (v1.id, 0.51),
        (v2.id, 0.52),
    ]
    assert rows[0]["computed_at"] == "2026-01-01T00:00:00+00:00"
    assert client.get(f"{url}&limit=0", headers=as_viewer()).status_code == 422


def test_pin_unpin_as_the_cli_does_with_the_token_name_as_actor(
    loop: Loop, client: TestClient
) -> None:
    v1 = register_stub(loop)
    loop.control.promote(v1.id, reason="initial", actor="test")
    v2 = register_stub(loop, parent=v1.id)

    pinned = client.post(
        "/api/v1/pins",
        json={"version": v2.id, "reason": "audit", "until": "2099-01-01T00:00:00Z"},
        headers=as_operator(),
    )

    assert pinned.status_code == 201, pinned.text
    assert pinned.json()["serving"] == v2.id
    assert pinned.json()["event"]["kind"] == "pinned"
    last = loop.control.last_event()
    assert last is not None and (last.kind, last.version, last.actor) == (
        ModelEventKind.PINNED,
        v2.id,
        "otto",
    )
    pins = client.get("/api/v1/pins", headers=as_viewer()).json()
    assert pins["current"]["version_id"] == v2.id and pins["current"]["actor"] == "otto"
    assert pins["current"]["expires_at"].startswith("2099-01-01")
    unknown = client.post(
        "/api/v1/pins", json={"version": 999, "reason": "x"}, headers=as_operator()
    )
    assert unknown.status_code == 404 and unknown.json() == {"detail": "unknown model version 999"}
    no_reason = client.post("/api/v1/pins", json={"version": v2.id}, headers=as_operator())
    assert no_reason.status_code == 422

    released = client.delete("/api/v1/pins/current?reason=audit+done", headers=as_operator())
    assert released.status_code == 200 and released.json()["serving"] == v1.id
    again = client.delete("/api/v1/pins/current", headers=as_operator())
    assert again.status_code == 409 and again.json() == {"detail": "no pin to release"}

    audit = client.get("/api/v1/promotions", headers=as_viewer()).json()
    assert [(a["kind"], a["actor"], a["reason"]) for a in audit][-2:] == [
        ("pin", "otto", "audit"),
        ("unpin", "otto", "audit done"),
    ]
    history = client.get("/api/v1/pins", headers=as_viewer()).json()
    assert history["current"] is None and history["pins"][0]["released_at"] is not None


def test_promote_and_rollback_with_the_cli_errors(loop: Loop, client: TestClient) -> None:
    v1 = register_stub(loop)
    loop.control.promote(v1.id, reason="initial", actor="test")
    v2 = register_stub(loop, parent=v1.id)

    nothing_before = client.post("/api/v1/rollback", json={"reason": "bad"}, headers=as_operator())
    assert nothing_before.status_code == 409
    assert nothing_before.json() == {"detail": f"no earlier champion to roll back to from {v1.id}"}

    promoted = client.post(
        "/api/v1/promote",
        json={"version": v2.id, "reason": "by hand", "expect_champion": v1.id},
        headers=as_operator(),
    )
    assert promoted.status_code == 200 and promoted.json()["serving"] == v2.id
    twice = client.post(
        "/api/v1/promote", json={"version": v2.id, "reason": "again"}, headers=as_operator()
    )
    assert twice.status_code == 409
    assert twice.json() == {"detail": f"version {v2.id} is already the champion"}
    unknown = client.post(
        "/api/v1/promote", json={"version": 999, "reason": "x"}, headers=as_operator()
    )
    assert unknown.status_code == 404

    stale = client.post(
        "/api/v1/rollback",
        json={"reason": "bad", "expect_champion": v1.id},
        headers=as_operator(),
    )
    assert stale.status_code == 409
    assert stale.json() == {
        "detail": f"expected version {v1.id} to be the champion, but the champion is "
        f"{v2.id}: nothing was changed"
    }
    rolled = client.post(
        "/api/v1/rollback",
        json={"reason": "v2 misreads sevens", "expect_champion": v2.id},
        headers=as_operator(),
    )
    assert rolled.status_code == 200 and rolled.json()["serving"] == v1.id
    retried = client.post(  # a retry after a timeout rolls back nothing more
        "/api/v1/rollback",
        json={"reason": "v2 misreads sevens", "expect_champion": v2.id},
        headers=as_operator(),
    )
    assert retried.status_code == 200 and retried.json()["serving"] == v1.id
    assert loop.registry.champion().id == v1.id  # type: ignore[union-attr]
    audit = client.get("/api/v1/promotions?limit=2", headers=as_viewer()).json()
    assert [(a["kind"], a["to_version"], a["actor"]) for a in audit] == [
        ("promote", v2.id, "otto"),
        ("rollback", v1.id, "otto"),
    ]


def test_decisions_with_their_numbers(loop: Loop, client: TestClient) -> None:
    v1, v2, v3 = register_stub(loop), register_stub(loop), register_stub(loop)
    console = console_of(loop)
    for challenger, outcome in [
        (v2.id, DecisionOutcome.REJECTED),
        (v3.id, DecisionOutcome.PROMOTED),
    ]:
        console.decisions.record(
            ChallengerDecision(
                challenger,
                v1.id,
                outcome,
                f"reason {challenger}",
                200,
                {"accuracy": 0.8},
                {"accuracy": 0.9},
                3,
                25,
                0.0001,
            )
        )

    newest_first = client.get("/api/v1/decisions", headers=as_viewer()).json()
    assert [(d["challenger_version"], d["outcome"]) for d in newest_first] == [
        (v3.id, "promoted"),
        (v2.id, "rejected"),
    ]
    d = newest_first[0]
    assert (d["champion_version"], d["sample_count"], d["mcnemar_b"], d["mcnemar_c"]) == (
        v1.id,
        200,
        3,
        25,
    )
    assert d["challenger_metrics"] == {"accuracy": 0.9} and d["p_value"] == 0.0001
    rejected = client.get("/api/v1/decisions?outcome=rejected", headers=as_viewer()).json()
    assert [d["challenger_version"] for d in rejected] == [v2.id]
    by_version = client.get(f"/api/v1/decisions?version={v3.id}", headers=as_viewer()).json()
    assert [d["outcome"] for d in by_version] == ["promoted"]


def test_drift_detections_newest_first_in_a_time_range(loop: Loop, client: TestClient) -> None:
    from datetime import UTC, datetime, timedelta

    from storage.db import make_engine
    from storage.domain import DriftRecord
    from storage.drift_log import DriftLog

    champion = register_stub(loop)
    log = DriftLog(make_engine(loop.settings.db))
    before = datetime.now(UTC) - timedelta(seconds=1)
    for detector, offset in [("adwin:input_mean", 700), ("adwin:champion_error", 760)]:
        log.record(
            DriftRecord(
                detector=detector,
                statistic=detector.split(":")[1],
                value_before=0.1,
                value_after=0.8,
                labeled=detector.endswith("error"),
                event_topic=loop.settings.kafka.image_topic,
                event_partition=0,
                event_offset=offset,
                boundary={f"{loop.settings.kafka.image_topic}:0": 690},
                champion_version=champion.id,
            )
        )
    since = before.isoformat().replace("+00:00", "Z")
    found = client.get(f"/api/v1/drift?since={since}", headers=as_viewer()).json()
    assert [d["detector"] for d in found] == ["adwin:champion_error", "adwin:input_mean"]
    assert found[1]["boundary"] == {f"{loop.settings.kafka.image_topic}:0": 690}
    assert found[0]["champion_version"] == champion.id and found[0]["labeled"] is True
    until = client.get(f"/api/v1/drift?until={since}", headers=as_viewer()).json()
    assert all(datetime.fromisoformat(d["detected_at"]) < before for d in until)
    assert client.get("/api/v1/drift?limit=0", headers=as_viewer()).status_code == 422


def test_fleet_shows_each_scorer_and_the_lag(loop: Loop, client: TestClient) -> None:
    v1 = register_stub(loop)
    loop.control.promote(v1.id, reason="initial", actor="test")
    kafka = loop.settings.kafka
    producer = make_producer(kafka)
    now = now_ms()
    # scorer-2's latest status is 4 heartbeats old: stale.
    long_ago = now - int(4 * loop.settings.scorer.heartbeat_s * 1000)
    assert long_ago < now, "the test deployment's scorers send heartbeats"
    for status in [
        ScorerStatus("scorer-1", 1, "serving", timestamp_ms=long_ago - 1_000),
        ScorerStatus("scorer-2", 1, "load_failed", "sha256 mismatch", timestamp_ms=long_ago),
        ScorerStatus("scorer-1", v1.id, "serving", timestamp_ms=now),
    ]:
        producer.produce(kafka.scorer_status_topic, encode_scorer_status(status), status.scorer_id)
    for i in range(5):
        producer.produce(kafka.image_topic, b"not read", f"e{i}", partition=0)
    producer.flush(30)
    group = Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": loop.settings.scorer.group_id}
    )
    group.commit(offsets=[TopicPartition(kafka.image_topic, 0, 2)], asynchronous=False)
    group.close()

    fleet = client.get("/api/v1/fleet", headers=as_viewer()).json()

    assert (fleet["champion"], fleet["serving"], fleet["pin"]) == (v1.id, v1.id, None)
    assert fleet["scorers"] == [
        {
            "scorer_id": "scorer-1",
            "version": v1.id,
            "state": "serving",
            "error": "",
            "last_seen_ms": now,
            "stale": False,
            "up_to_date": True,
        },
        {
            "scorer_id": "scorer-2",
            "version": 1,
            "state": "load_failed",
            "error": "sha256 mismatch",
            "last_seen_ms": long_ago,
            "stale": True,
            "up_to_date": False,
        },
    ]
    by_partition = {p["partition"]: p for p in fleet["lag"]}
    assert len(by_partition) == kafka.partitions
    assert (by_partition[0]["committed"], by_partition[0]["end"], by_partition[0]["lag"]) == (
        2,
        5,
        3,
    )
    assert by_partition[1]["committed"] is None and fleet["total_lag"] == 3


def test_openapi_and_dashboard_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = {
        "/api/v1/pins",
        "/api/v1/pins/current",
        "/api/v1/rollback",
        "/api/v1/promote",
        "/api/v1/history",
        "/api/v1/fleet",
        "/api/v1/decisions",
        "/api/v1/drift",
    }
    assert paths <= set(schema["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()  # Swagger UI comes from this server too
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/redoc").status_code == 404
    page = client.get("/")
    assert page.status_code == 200 and "Arena console" in page.text
    assert "://" not in page.text  # no CDN: every file it loads comes from this server
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert client.get("/static/vendor/uplot/uPlot.iife.min.js").status_code == 200
