from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from arena.holdout import is_holdout
from arena.join import EventPosition, LabeledExample
from evaluator.policy import Decision
from evaluator.service import EvaluationWindow, HoldoutPool, decide_action
from evaluator.stats import McNemarResult
from storage.domain import ModelVersion, OffsetRange, Pin
from tests.unit.versions import model_version

T = "arena.images"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def version(vid: int, *ranges: OffsetRange, parent: int | None = None) -> ModelVersion:
    return model_version(vid, *ranges, parent=parent)


def example(offset: int, partition: int = 0) -> LabeledExample:
    image = np.full((2, 2), offset, np.uint8)
    return LabeledExample(f"ev-{partition}-{offset}", EventPosition(T, partition, offset), image, 1)


def window_of(offsets: range, partition: int = 0, capacity: int = 1000) -> EvaluationWindow:
    w = EvaluationWindow(capacity)
    for o in offsets:
        w.add(example(o, partition))
    return w


class TestEligibleFor:
    def test_excludes_trained_offsets_except_the_holdout(self) -> None:
        w = window_of(range(100))
        v = version(2, OffsetRange(T, 0, 0, 49))
        sel = w.eligible_for(v, holdout_percent=20)
        got = {e.position.offset for e in sel.examples}
        expected = set(range(50, 100)) | {o for o in range(50) if is_holdout(f"ev-0-{o}", 20)}
        assert got == expected
        assert sel.excluded_trained == 100 - len(expected)
        assert 0 < len(expected) - 50 < 50  # both rules contributed

    def test_other_partitions_are_not_covered(self) -> None:
        w = window_of(range(10), partition=1)
        sel = w.eligible_for(version(2, OffsetRange(T, 0, 0, 100)), holdout_percent=0)
        assert len(sel) == 10 and sel.excluded_trained == 0

    def test_also_trained_excludes_the_parents_data(self) -> None:
        w = window_of(range(20))
        challenger = version(3, OffsetRange(T, 0, 10, 19))
        champion = version(2, OffsetRange(T, 0, 0, 4))
        sel = w.eligible_for(challenger, holdout_percent=0, also_trained=[champion])
        assert [e.position.offset for e in sel.examples] == list(range(5, 10))

    def test_selection_arrays(self) -> None:
        sel = window_of(range(3)).eligible_for(version(2), holdout_percent=0)
        assert sel.images().shape == (3, 2, 2) and sel.images().dtype == np.float32
        assert sel.labels().tolist() == [1, 1, 1]

    def test_first_is_a_fixed_sample_as_the_window_grows(self) -> None:
        w = window_of(range(10))
        v = version(2, OffsetRange(T, 0, 0, 2))
        before = [e.position.offset for e in w.eligible_for(v, 0).first(4).examples]
        w.add(example(10))
        after = [e.position.offset for e in w.eligible_for(v, 0).first(4).examples]
        assert before == after == [3, 4, 5, 6]

    def test_window_keeps_the_most_recent(self) -> None:
        w = window_of(range(10), capacity=4)
        assert len(w) == 4
        sel = w.eligible_for(version(2), holdout_percent=0)
        assert [e.position.offset for e in sel.examples] == [6, 7, 8, 9]

    def test_invalid_capacity(self) -> None:
        with pytest.raises(ValueError):
            EvaluationWindow(0)


def decision(promote: bool, reason: str) -> Decision:
    return Decision(promote, reason, {}, {}, McNemarResult(0, 0, 0.0, 1.0, 1.0), 1.0)


def pin(**kw: object) -> Pin:
    fields: dict[str, object] = {
        "id": 1,
        "version_id": 4,
        "actor": "alice",
        "reason": "black friday freeze",
        "created_at": NOW - timedelta(hours=1),
    }
    fields.update(kw)
    return Pin(**fields)  # type: ignore[arg-type]


class TestDecideAction:
    def test_active_pin_blocks_a_promotion_and_says_so(self) -> None:
        action = decide_action(
            decision(True, "promote: accuracy 0.93 vs 0.81, p=1e-09"), pin(), NOW
        )
        assert not action.promote and action.blocked_by_pin
        assert action.reason.startswith(
            "would promote, blocked by pin (version 4 pinned by alice: black friday freeze)"
        )
        assert action.reason.endswith("promote: accuracy 0.93 vs 0.81, p=1e-09")

    def test_expired_or_released_pin_does_not_block(self) -> None:
        d = decision(True, "promote: ...")
        for p in (pin(expires_at=NOW), pin(released_at=NOW - timedelta(minutes=1))):
            action = decide_action(d, p, NOW)
            assert action.promote and not action.blocked_by_pin

    def test_no_pin_follows_the_policy(self) -> None:
        assert decide_action(decision(True, "promote"), None, NOW).promote
        action = decide_action(decision(False, "margin 0.004 < 0.01"), pin(), NOW)
        assert not action.promote and not action.blocked_by_pin
        assert action.reason == "margin 0.004 < 0.01"


class TestHoldoutPool:
    def test_keeps_only_the_newest_holdout_events(self) -> None:
        pool = HoldoutPool(capacity=10, holdout_percent=20)
        events = [example(o) for o in range(500)]
        for e in events:
            pool.add(e)
        holdout = [e for e in events if is_holdout(e.event_id, 20)]
        assert len(holdout) > 10
        assert [e.event_id for e in pool.with_recent([])] == [e.event_id for e in holdout[-10:]]

    def test_adds_the_recent_events_it_does_not_hold_once_each(self) -> None:
        pool = HoldoutPool(capacity=1000, holdout_percent=20)
        events = [example(o) for o in range(300)]
        for e in events:
            pool.add(e)
        recent = events[200:]  # a window: holdout events and fresh ones
        merged = pool.with_recent(recent)
        ids = [e.event_id for e in merged]
        assert len(ids) == len(set(ids))
        assert set(ids) == {e.event_id for e in events if is_holdout(e.event_id, 20)} | {
            e.event_id for e in recent
        }

    def test_capacity_zero_keeps_nothing(self) -> None:
        pool = HoldoutPool(capacity=0, holdout_percent=100)
        pool.add(example(1))
        assert len(pool) == 0
        assert [e.event_id for e in pool.with_recent([example(2)])] == [example(2).event_id]
