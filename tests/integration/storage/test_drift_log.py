"""Drift detections in PostgreSQL: recorded with their numbers, read back by time range,
append-only; and ``arena history --drift`` shows them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from storage.domain import DriftRecord
from storage.drift_log import DriftLog
from storage.registry import Registry

from .test_registry import _register


def record(detector: str, offset: int, champion: int | None = None) -> DriftRecord:
    return DriftRecord(
        detector=detector,
        statistic=detector.split(":", 1)[1],
        value_before=0.13,
        value_after=0.87,
        labeled=detector.endswith("error"),
        event_topic="arena.images",
        event_partition=2,
        event_offset=offset,
        boundary={"arena.images:0": offset - 40, "arena.images:2": offset - 38},
        champion_version=champion,
    )


def test_detections_are_recorded_and_read_newest_first(storage_engine: Engine) -> None:
    log = DriftLog(storage_engine)
    start = datetime.now(UTC) - timedelta(seconds=1)
    first = log.record(record("adwin:input_mean", 700))
    second = log.record(record("adwin:champion_error", 760))
    assert first.id is not None and first.detected_at is not None
    recent = log.recent(since=start)
    assert [d.id for d in recent] == [second.id, first.id]
    assert recent[1].boundary == {"arena.images:0": 660, "arena.images:2": 662}
    assert recent[0].labeled and not recent[1].labeled
    assert log.recent(until=start) == []


def test_the_drift_log_is_append_only(storage_engine: Engine) -> None:
    DriftLog(storage_engine).record(record("adwin:input_edges", 10))
    for statement in (
        "UPDATE drift_detections SET detector = 'forged'",
        "DELETE FROM drift_detections",
    ):
        with pytest.raises(DBAPIError, match="append-only"), storage_engine.begin() as conn:
            conn.execute(text(statement))


def test_a_detection_names_the_champion_it_saw(storage_engine: Engine, registry: Registry) -> None:
    champion = _register(registry)
    saved = DriftLog(storage_engine).record(record("adwin:champion_confidence", 99, champion.id))
    assert saved.champion_version == champion.id
    with storage_engine.connect() as conn:
        row = conn.execute(
            text("SELECT boundary FROM drift_history WHERE id = :id"), {"id": saved.id}
        ).one()
    assert json.loads(json.dumps(row[0])) == saved.boundary
