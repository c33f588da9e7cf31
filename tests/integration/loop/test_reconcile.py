"""The control plane reconciles: a crash between its steps, a retried rollback, a control
topic whose last offset is a transaction marker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from arena.bus.compacted import latest_value
from arena.bus.producer import make_producer
from arena.events import SERVING_KEY
from arena.faults import CRASH_ENV, CRASH_EXIT_CODE
from storage.domain import PromotionKind, VersionStatus
from storage.errors import ChampionChanged

from .conftest import Loop, Models


def champions(loop: Loop, models: Models, n: int) -> list[int]:
    """Register ``n`` versions and promote each in turn; the last is the champion."""
    ids = []
    for i in range(n):
        v = loop.register(models.good, parent=ids[-1] if ids else None)
        loop.control.promote(v.id, reason=f"step {i}", actor="test")
        ids.append(v.id)
    return ids


def test_a_retried_rollback_does_not_roll_back_twice(loop: Loop, models: Models) -> None:
    v1, v2, v3 = champions(loop, models, 3)
    first = loop.control.rollback(reason="bad", actor="op", expected_champion=v3)
    assert first.version.id == v2
    rows = len(loop.registry.promotions())
    retry = loop.control.rollback(reason="bad", actor="op", expected_champion=v3)
    assert retry.version.id == v2, "the retry completes the same rollback"
    assert loop.registry.champion() is not None and loop.registry.champion().id == v2  # type: ignore[union-attr]
    assert loop.registry.get_version(v2).status is VersionStatus.CHAMPION
    assert loop.registry.get_version(v1).status is VersionStatus.RETIRED
    assert len(loop.registry.promotions()) == rows, "no second rollback in the audit log"


def test_a_rollback_of_a_champion_that_changed_meanwhile_is_refused(
    loop: Loop, models: Models
) -> None:
    _, v2 = champions(loop, models, 2)
    v3 = loop.register(models.good, parent=v2)
    loop.control.promote(v3.id, reason="newer", actor="evaluator", expected_champion=v2)
    with pytest.raises(ChampionChanged, match=f"expected version {v2}"):
        loop.control.rollback(reason="bad", actor="op", expected_champion=v2)
    assert loop.registry.champion().id == v3.id  # type: ignore[union-attr]


def test_a_promotion_expecting_another_champion_is_refused(loop: Loop, models: Models) -> None:
    (v1,) = champions(loop, models, 1)
    v2 = loop.register(models.good, parent=v1)
    with pytest.raises(ChampionChanged):
        loop.control.promote(v2.id, reason="r", actor="evaluator", expected_champion=v1 + 100)
    assert loop.registry.champion().id == v1  # type: ignore[union-attr]


def _cli_env(loop: Loop) -> dict[str, str]:
    k = loop.settings.kafka
    env = dict(os.environ)
    env["ARENA_DB_NAME"] = loop.settings.db.name
    for name in ("image_topic", "label_topic", "prediction_topic", "model_topic"):
        env[f"ARENA_KAFKA_{name.upper()}"] = getattr(k, name)
    env["ARENA_KAFKA_SCORER_STATUS_TOPIC"] = k.scorer_status_topic
    return env


@pytest.mark.parametrize("point", ["control.after_registry", "control.after_alias"])
def test_a_crash_between_the_steps_is_reconciled(loop: Loop, models: Models, point: str) -> None:
    v1, v2 = champions(loop, models, 2)
    env = {**_cli_env(loop), CRASH_ENV: point}
    cmd = [sys.executable, "-m", "arena.cli", "rollback", "--reason", "bad"]
    crashed = subprocess.run([*cmd, "--expect-champion", str(v2)], env=env, timeout=120)
    assert crashed.returncode == CRASH_EXIT_CODE
    # The registry rolled back, the control topic still announces v2.
    assert loop.registry.champion().id == v1  # type: ignore[union-attr]
    last = loop.control.last_event()
    assert last is not None and last.version == v2

    change = loop.control.reconcile(actor="test")
    assert change is not None and change.version.id == v1
    last = loop.control.last_event()
    assert last is not None and last.version == v1
    assert loop.store.resolve_alias("champion") == loop.registry.get_version(v1).artifact
    assert loop.store.resolve_alias("serving") == loop.registry.get_version(v1).artifact
    assert loop.control.reconcile(actor="test") is None, "agreeing state: nothing to announce"

    # The operator's retry (same expectation) completes it and rolls back nothing more.
    retried = subprocess.run([*cmd, "--expect-champion", str(v2)], env=_cli_env(loop), timeout=120)
    assert retried.returncode == 0
    kinds = [p.kind for p in loop.registry.promotions()]
    assert kinds.count(PromotionKind.ROLLBACK) == 1


def test_the_latest_control_record_is_found_after_a_transaction_marker(loop: Loop) -> None:
    topic = loop.settings.kafka.model_topic
    producer = make_producer(loop.settings.kafka, transactional_id=f"test-{topic}")
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"last-value", SERVING_KEY)
    producer.commit_transaction(30)  # the partition's last offset is now the commit marker
    assert latest_value(loop.settings.kafka, topic, timeout_s=20) == b"last-value"
