"""The evaluator against the real registry and MinIO: the A/A guard, pins, probation."""

from __future__ import annotations

from typing import Any

import numpy as np

from arena.bus.producer import make_producer
from arena.config import with_overrides
from arena.datasets import load_mnist
from arena.holdout import is_holdout
from arena.images import to_unit_float
from arena.join import EventPosition, LabeledExample
from evaluator.handle import EvaluatorHandle
from evaluator.rounds import Evaluator
from storage.db import make_engine
from storage.decisions import Decisions
from storage.domain import DecisionOutcome, VersionStatus
from storage.probations import Probations

from .conftest import Loop, Models


def labeled(
    n: int, offset: int = 0, topic: str = "arena.images", first_offset: int | None = None
) -> list[LabeledExample]:
    """Fresh labeled digits the models never trained on (MNIST test split), at Kafka
    offsets ``first_offset``... of partition 0 of ``topic`` (default: ``offset``...)."""
    data = load_mnist()
    images = to_unit_float(data.x_test[offset : offset + n])
    at = offset if first_offset is None else first_offset
    return [
        LabeledExample(
            f"ev-{offset + i}",
            EventPosition(topic, 0, at + i),
            images[i],
            int(data.y_test[offset + i]),
        )
        for i in range(n)
    ]


def make_evaluator(loop: Loop, **evaluator: Any) -> tuple[Evaluator, EvaluatorHandle]:
    handle = EvaluatorHandle()
    engine = make_engine(loop.settings.db)
    settings = with_overrides(loop.settings, evaluator=evaluator) if evaluator else loop.settings
    evaluator_ = Evaluator(
        settings, loop.control, loop.store, handle, Probations(engine), Decisions(engine)
    )
    return evaluator_, handle


def test_identical_challenger_is_never_promoted(loop: Loop, models: Models) -> None:
    champion = loop.register(models.good)
    loop.control.promote(champion.id, reason="initial", actor="test")
    twin = loop.register(models.good.clone(), parent=champion.id)
    # A twin never disagrees with the champion: its trial gathers no evidence and ends,
    # rejected, at max_samples (600 here, so one round ends it).
    evaluator, handle = make_evaluator(loop, max_samples=600)
    for example in labeled(600):
        evaluator.add(example)

    evaluator.evaluate()

    assert handle.promotions == []
    assert loop.registry.champion().id == champion.id  # type: ignore[union-attr]
    assert loop.registry.get_version(twin.id).status == VersionStatus.REJECTED
    assert any("not significant" in d or "margin" in d for d in handle.decisions)
    [decision] = Decisions(make_engine(loop.settings.db)).recent()
    assert (decision.challenger_version, decision.champion_version) == (twin.id, champion.id)
    assert decision.outcome == DecisionOutcome.REJECTED
    assert decision.sample_count == 600
    assert decision.challenger_metrics["accuracy"] == decision.champion_metrics["accuracy"]


def test_pin_blocks_promotion_until_unpinned(loop: Loop, models: Models) -> None:
    weak = loop.register(models.bad)
    loop.control.promote(weak.id, reason="initial", actor="test")
    loop.control.pin(weak.id, reason="change freeze", actor="ops")
    strong = loop.register(models.good, parent=weak.id)
    evaluator, handle = make_evaluator(loop)
    for example in labeled(600):
        evaluator.add(example)

    evaluator.evaluate()

    assert handle.promotions == [] and handle.blocked == [strong.id]
    assert "would promote, blocked by pin" in handle.decisions[-1]
    assert loop.registry.champion().id == weak.id  # type: ignore[union-attr]
    blocked = loop.registry.history(version_id=strong.id, metric="would_promote")
    assert [e.role for e in blocked] == ["blocked_by_pin"]

    loop.control.unpin(reason="freeze over", actor="ops")
    evaluator.evaluate()

    assert handle.promotions == [strong.id]
    assert loop.registry.serving_version().id == strong.id  # type: ignore[union-attr]
    promoted, blocked_once = Decisions(make_engine(loop.settings.db)).recent()
    assert blocked_once.outcome == DecisionOutcome.BLOCKED_BY_PIN
    assert "change freeze" in blocked_once.reason
    assert promoted.outcome == DecisionOutcome.PROMOTED
    assert promoted.p_value < loop.settings.evaluator.significance
    assert promoted.mcnemar_c > promoted.mcnemar_b


def test_probation_rolls_back_a_promotion_that_is_worse_live(loop: Loop, models: Models) -> None:
    good = loop.register(models.good)
    loop.control.promote(good.id, reason="initial", actor="test")
    bad = loop.register(models.bad, parent=good.id)
    loop.control.promote(bad.id, reason="operator error", actor="ops")
    evaluator, handle = make_evaluator(loop)
    evaluator.start_probation(old=good, new=bad)
    for example in labeled(evaluator.cfg.probation_labels + 50, offset=2000):
        evaluator.add(example)

    evaluator.evaluate()

    assert handle.rollbacks == [bad.id]
    assert loop.registry.champion().id == good.id  # type: ignore[union-attr]
    assert loop.registry.get_version(bad.id).status == VersionStatus.REJECTED
    assert loop.registry.promotions()[-1].kind.value == "rollback"


def test_score_history_is_written_per_version(loop: Loop, models: Models) -> None:
    champion = loop.register(models.good)
    loop.control.promote(champion.id, reason="initial", actor="test")
    evaluator, _ = make_evaluator(loop)
    for example in labeled(500, offset=5000):
        evaluator.add(example)

    evaluator.evaluate()

    metrics = loop.registry.latest_metrics(champion.id)
    assert {"accuracy", "log_loss", "macro_f1", "recall_class_0"} <= set(metrics)
    truth = load_mnist().y_test[5000:5500]
    predicted = models.good.predict_proba(to_unit_float(load_mnist().x_test[5000:5500]))
    expected = float((predicted.argmax(axis=1) == truth).mean())
    assert np.isclose(metrics["accuracy"], expected, atol=1e-6)


def test_expired_pin_is_announced_so_scorers_return_to_the_champion(
    loop: Loop, models: Models
) -> None:
    import time
    from datetime import UTC, datetime, timedelta

    champion = loop.register(models.good)
    loop.control.promote(champion.id, reason="initial", actor="test")
    other = loop.register(models.bad, parent=champion.id)
    until = datetime.now(UTC) + timedelta(seconds=2)
    loop.control.pin(other.id, reason="short experiment", actor="ops", expires_at=until)
    evaluator, handle = make_evaluator(loop)

    evaluator.evaluate()
    assert not any("expired" in d for d in handle.decisions)
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.5)
    evaluator.evaluate()

    assert f"pin of version {other.id} expired: serving version {champion.id}" in handle.decisions
    assert loop.registry.serving_version().id == champion.id  # type: ignore[union-attr]


def test_a_restarted_evaluator_resumes_the_probation_where_it_was(
    loop: Loop, models: Models
) -> None:
    good = loop.register(models.good)
    loop.control.promote(good.id, reason="initial", actor="test")
    bad = loop.register(models.bad, parent=good.id)
    loop.control.promote(bad.id, reason="operator error", actor="ops")
    before, _ = make_evaluator(loop)
    before.start_probation(old=good, new=bad)
    half = 40  # fewer than the early bail-out needs: the verdict waits for the restart
    for example in labeled(half, offset=2000):
        before.add(example)
    before.evaluate()
    assert before.probation is not None and len(before.probation.monitor) == half

    after, handle = make_evaluator(loop)  # the evaluator process restarted
    assert after.probation is not None, "the open probation is resumed from PostgreSQL"
    assert (after.probation.new.id, after.probation.old.id) == (bad.id, good.id)
    assert len(after.probation.monitor) == half
    for example in labeled(after.cfg.probation_labels, offset=2000 + half):
        after.add(example)
    after.evaluate()

    assert handle.rollbacks == [bad.id]
    assert loop.registry.champion().id == good.id  # type: ignore[union-attr]
    assert Probations(make_engine(loop.settings.db)).current() is None, "probation closed"


def test_probation_counts_only_events_after_the_promotion_and_each_once_across_a_restart(
    loop: Loop, models: Models
) -> None:
    topic = loop.settings.kafka.image_topic
    producer = make_producer(loop.settings.kafka)
    for i in range(30):  # what the image topic held when the new champion was promoted
        producer.produce(topic, f"image-{i}".encode(), partition=0)
    assert producer.flush(10) == 0
    good = loop.register(models.good)
    loop.control.promote(good.id, reason="initial", actor="test")
    new = loop.register(models.good.clone(), parent=good.id)
    loop.control.promote(new.id, reason="test", actor="ops")
    before, _ = make_evaluator(loop)
    before.start_probation(old=good, new=new)
    earlier = labeled(30, offset=3000, topic=topic, first_offset=0)
    after_promotion = labeled(40, offset=3030, topic=topic, first_offset=30)
    for example in earlier + after_promotion:
        before.add(example)
    before.evaluate()
    assert before.probation is not None
    assert len(before.probation.monitor) == 40, "events from before the promotion counted"

    again, _ = make_evaluator(loop)  # restarted: it reads the same events again, then more
    for example in (
        earlier + after_promotion + labeled(25, offset=3070, topic=topic, first_offset=70)
    ):
        again.add(example)
    again.evaluate()
    assert again.probation is not None
    assert len(again.probation.monitor) == 65, "events counted twice after the restart"
    saved = Probations(make_engine(loop.settings.db)).current()
    assert saved is not None and saved.next_offsets[f"{topic}:0"] == 95


def test_a_trial_of_a_challenger_from_an_earlier_champion_ends_when_one_from_the_current_waits(
    loop: Loop, models: Models
) -> None:
    old = loop.register(models.bad)
    loop.control.promote(old.id, reason="initial", actor="test")
    stale = loop.register(models.good, parent=old.id)
    evaluator, handle = make_evaluator(loop, min_samples=100, supersede_after=400)
    for example in labeled(60):  # too few to decide: the trial of ``stale`` waits
        evaluator.add(example)
    evaluator.evaluate()
    assert list(evaluator.trials) == [stale.id]
    # Meanwhile an operator promotes another version, and the trainer registers a challenger
    # fine-tuned from it.
    current = loop.register(models.good.clone(), parent=old.id)
    loop.control.promote(current.id, reason="operator", actor="ops")
    fresh = loop.register(models.good.clone(), parent=current.id)
    for example in labeled(60, offset=60):
        evaluator.add(example)

    evaluator.evaluate()  # 120 events: the supersede_after rule alone would keep it

    assert loop.registry.get_version(stale.id).status == VersionStatus.REJECTED
    assert (
        f"fine-tuned from v{old.id}, a newer candidate from the champion v{current.id}"
        in (handle.decisions[-1])
    )
    assert loop.registry.get_version(fresh.id).status == VersionStatus.CANDIDATE
    evaluator.evaluate()
    assert list(evaluator.trials) == [fresh.id]


def test_a_trial_starts_with_the_holdout_events_that_left_the_window(
    loop: Loop, models: Models
) -> None:
    weak = loop.register(models.bad)
    loop.control.promote(weak.id, reason="initial", actor="test")
    evaluator, _ = make_evaluator(loop, window_size=100, holdout_pool=1_000, max_samples=5_000)
    events = labeled(1_000)
    for example in events:
        evaluator.add(example)
    strong = loop.register(models.good, parent=weak.id)  # trained on none of these offsets

    evaluator.evaluate()

    holdout_older = [
        e for e in events[:-100] if is_holdout(e.event_id, loop.settings.labels.holdout_percent)
    ]
    assert holdout_older  # the window alone holds only the last 100
    [decision] = Decisions(make_engine(loop.settings.db)).recent()
    assert (decision.challenger_version, decision.outcome) == (strong.id, DecisionOutcome.PROMOTED)
    assert decision.sample_count == 100 + len(holdout_older)
