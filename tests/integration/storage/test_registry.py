"""The registry against the real PostgreSQL: champion changes, audit log, pins, score history."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from storage.domain import (
    ArtifactRef,
    Evaluation,
    ModelVersion,
    OffsetRange,
    PromotionKind,
    VersionStatus,
)
from storage.errors import RegistryError, UnknownVersion
from storage.registry import Registry

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _register(registry: Registry, parent: int | None = None, n: int = 0) -> ModelVersion:
    digest = f"{n:064x}"
    return registry.register_version(
        "river",
        ArtifactRef(uri=f"s3://models/sha256/{digest}", sha256=digest, size=10 + n),
        parent,
        [OffsetRange("arena.labels", 0, 0, 99), OffsetRange("arena.labels", 1, 5, 50)],
        {"lr": 0.01},
        signature=f"test-signature-{n}",
    )


def _eval(version: int, metric: str, value: float, minute: int, role: str = "") -> Evaluation:
    at = T0 + timedelta(minutes=minute)
    return Evaluation(version, metric, value, 100, at - timedelta(minutes=1), at, at, role=role)


def test_register_round_trips_lineage_and_training_ranges(registry: Registry) -> None:
    parent = _register(registry)
    child = _register(registry, parent=parent.id, n=1)

    loaded = registry.get_version(child.id)

    assert loaded == child
    assert loaded.parent_id == parent.id
    assert loaded.status is VersionStatus.CANDIDATE
    assert loaded.trained_on("arena.labels", 1, 50)
    assert not loaded.trained_on("arena.labels", 1, 51)
    assert loaded.hyperparameters == {"lr": 0.01}
    assert loaded.created_at.tzinfo is not None
    assert [v.id for v in registry.list_versions()] == [parent.id, child.id]


def test_unknown_versions_are_refused_clearly(registry: Registry) -> None:
    with pytest.raises(UnknownVersion, match="unknown model version 42"):
        registry.get_version(42)
    with pytest.raises(UnknownVersion):
        _register(registry, parent=42)
    with pytest.raises(UnknownVersion):
        registry.set_champion(42, reason="r", actor="a")
    with pytest.raises(UnknownVersion):
        registry.pin(42, actor="a", reason="r")


def test_promote_retires_the_old_champion_and_logs_it(registry: Registry) -> None:
    first, second = _register(registry), _register(registry, n=1)

    registry.set_champion(first.id, reason="bootstrap", actor="evaluator")
    promotion = registry.set_champion(second.id, reason="+3% accuracy", actor="evaluator")

    champion = registry.champion()
    assert champion is not None and champion.id == second.id
    assert registry.get_version(first.id).status is VersionStatus.RETIRED
    assert promotion.kind is PromotionKind.PROMOTE
    assert (promotion.from_version, promotion.to_version) == (first.id, second.id)
    assert [(p.from_version, p.to_version) for p in registry.promotions()] == [
        (None, first.id),
        (first.id, second.id),
    ]
    assert [p.to_version for p in registry.promotions(limit=1)] == [second.id]
    assert registry.list_versions(VersionStatus.CHAMPION) == [champion]


def test_promoting_the_champion_again_is_refused(registry: Registry) -> None:
    version = _register(registry)
    registry.set_champion(version.id, reason="r", actor="a")

    with pytest.raises(RegistryError, match="already the champion"):
        registry.set_champion(version.id, reason="r", actor="a")
    assert len(registry.promotions()) == 1


def test_database_allows_one_champion_only(registry: Registry, storage_engine: Engine) -> None:
    a, b = _register(registry), _register(registry, n=1)
    registry.set_champion(a.id, reason="r", actor="a")

    promote_behind_registry = text("UPDATE model_versions SET status = 'champion' WHERE id = :id")
    with (
        pytest.raises(IntegrityError, match="uq_model_versions_one_champion"),
        storage_engine.begin() as conn,
    ):
        conn.execute(promote_behind_registry, {"id": b.id})


def test_promotions_log_refuses_update_and_delete(
    registry: Registry, storage_engine: Engine
) -> None:
    registry.set_champion(_register(registry).id, reason="r", actor="a")

    for statement in ("UPDATE promotions SET reason = 'forged'", "DELETE FROM promotions"):
        with pytest.raises(DBAPIError, match="append-only"), storage_engine.begin() as conn:
            conn.execute(text(statement))
    assert [p.reason for p in registry.promotions()] == ["r"]


def test_rollback_rejects_the_champion_and_restores_the_previous_one(registry: Registry) -> None:
    a, b, c = (_register(registry, n=n) for n in range(3))
    for version in (a, b, c):
        registry.set_champion(version.id, reason="better", actor="evaluator")

    first = registry.rollback(reason="recall dropped", actor="evaluator")
    second = registry.rollback(reason="still bad", actor="operator")

    assert (first.kind, first.from_version, first.to_version) == (
        PromotionKind.ROLLBACK,
        c.id,
        b.id,
    )
    # c was rejected, so the second rollback skips it and lands on a.
    assert (second.from_version, second.to_version) == (b.id, a.id)
    assert registry.get_version(c.id).status is VersionStatus.REJECTED
    assert registry.get_version(c.id).status_reason == "recall dropped"
    assert registry.get_version(b.id).status is VersionStatus.REJECTED
    champion = registry.champion()
    assert champion is not None and champion.id == a.id


def test_rollback_to_a_chosen_version(registry: Registry) -> None:
    a, b, c = (_register(registry, n=n) for n in range(3))
    for version in (a, b, c):
        registry.set_champion(version.id, reason="better", actor="evaluator")

    promotion = registry.rollback(reason="operator choice", actor="ops", to_version=a.id)

    assert (promotion.from_version, promotion.to_version) == (c.id, a.id)
    assert registry.get_version(b.id).status is VersionStatus.RETIRED


def test_rollback_without_history_is_refused(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="no champion"):
        registry.rollback(reason="r", actor="a")
    registry.set_champion(_register(registry).id, reason="r", actor="a")
    with pytest.raises(RegistryError, match="no earlier champion"):
        registry.rollback(reason="r", actor="a")


def test_reject_marks_a_challenger_but_not_the_champion(registry: Registry) -> None:
    champion, challenger = _register(registry), _register(registry, n=1)
    registry.set_champion(champion.id, reason="r", actor="a")

    rejected = registry.reject(challenger.id, "lost by 4%")

    assert rejected.status is VersionStatus.REJECTED
    assert rejected.status_reason == "lost by 4%"
    with pytest.raises(RegistryError, match="roll it back"):
        registry.reject(champion.id, "no")


def test_pin_overrides_the_champion_until_unpinned(registry: Registry) -> None:
    old, new = _register(registry), _register(registry, n=1)
    registry.set_champion(old.id, reason="r", actor="a")
    registry.set_champion(new.id, reason="r", actor="a")

    pin = registry.pin(old.id, actor="ops", reason="incident 12")

    assert registry.active_pin() == pin
    serving = registry.serving_version()
    assert serving is not None and serving.id == old.id
    released = registry.unpin(actor="ops", reason="resolved")
    assert released is not None and released.id == pin.id and released.released_at is not None
    assert registry.active_pin() is None
    serving = registry.serving_version()
    assert serving is not None and serving.id == new.id
    assert registry.unpin(actor="ops", reason="again") is None
    assert [(p.kind, p.from_version, p.to_version) for p in registry.promotions()][-2:] == [
        (PromotionKind.PIN, None, old.id),
        (PromotionKind.UNPIN, old.id, None),
    ]


def test_a_new_pin_replaces_the_active_one(registry: Registry) -> None:
    a, b = _register(registry), _register(registry, n=1)

    first = registry.pin(a.id, actor="ops", reason="one")
    second = registry.pin(b.id, actor="ops", reason="two")

    assert registry.active_pin() == second
    assert registry.promotions()[-1].from_version == a.id
    assert second.id != first.id


def test_pin_expires(registry: Registry) -> None:
    version = _register(registry)
    expires = datetime.now(UTC) + timedelta(hours=1)

    pin = registry.pin(version.id, actor="ops", reason="r", expires_at=expires)

    assert registry.active_pin(now=expires - timedelta(seconds=1)) == pin
    assert registry.active_pin(now=expires) is None
    assert registry.serving_version(now=expires) is None  # no champion, pin over


def test_history_filters_and_limits(registry: Registry) -> None:
    a, b = _register(registry), _register(registry, n=1)
    registry.record_evaluations(
        [
            _eval(a.id, "accuracy", 0.80, 1, role="champion"),
            _eval(b.id, "accuracy", 0.70, 1, role="challenger"),
            _eval(a.id, "accuracy", 0.82, 2),
            _eval(a.id, "recall_min", 0.50, 2),
            _eval(a.id, "accuracy", 0.85, 3),
        ]
    )

    assert [e.value for e in registry.history(a.id, "accuracy")] == [0.80, 0.82, 0.85]
    assert [e.value for e in registry.history(a.id, "accuracy", limit=2)] == [0.82, 0.85]
    since = T0 + timedelta(minutes=2)
    assert {e.metric for e in registry.history(a.id, since=since)} == {"accuracy", "recall_min"}
    assert [e.role for e in registry.history(b.id)] == ["challenger"]
    assert len(registry.history()) == 5
    assert all(e.id is not None for e in registry.history())
    assert registry.latest_metrics(a.id) == {"accuracy": 0.85, "recall_min": 0.50}
    assert registry.latest_metrics(b.id) == {"accuracy": 0.70}


def test_concurrent_promotions_keep_one_champion_and_a_consistent_log(registry: Registry) -> None:
    versions = [_register(registry, n=n) for n in range(8)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda v: registry.set_champion(v.id, reason="race", actor="t"), versions))

    log = registry.promotions()
    assert len(registry.list_versions(VersionStatus.CHAMPION)) == 1
    assert len(registry.list_versions(VersionStatus.RETIRED)) == 7
    assert log[0].from_version is None
    assert all(later.from_version == earlier.to_version for earlier, later in pairwise(log))
