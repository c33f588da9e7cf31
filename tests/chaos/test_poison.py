"""Scenarios 6 and 7: poison images and bad labels mixed into good traffic."""

from __future__ import annotations

import random
import signal
import statistics
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from arena.bus.producer import flush_or_raise, make_producer
from arena.flavors import ModelFlavor
from tests.chaos.fleet import ServiceProcess
from tests.chaos.ledger import wait_for
from tests.chaos.load import MnistImages, Outgoing, PacedLoad, Plan
from tests.chaos.poison import BAD_LABELS, PoisonContext, poison_record
from tests.chaos.report import ScenarioResult
from tests.chaos.scale import Scale
from tests.chaos.scenario import Run, scenario
from tests.chaos.stack import ChaosStack

PHASE_PAIRS = 3  # clean/poisoned backlog pairs; the drop compares their medians
MAX_THROUGHPUT_DROP = 0.10
PHASE_TIMEOUT_S = 180.0


def _mixed_plan(good: MnistImages, n_good: int, n_bad: int, ctx: PoisonContext) -> Plan:
    """``n_good`` good events with ``n_bad`` poison ones at random (seeded) positions."""
    slots = [True] * n_bad + [False] * n_good
    random.Random(6).shuffle(slots)
    index: list[int] = []
    counts = [0, 0]
    for is_poison in slots:
        index.append(counts[is_poison])
        counts[is_poison] += 1

    def plan(i: int) -> Outgoing:
        if slots[i]:
            key, kind, value = poison_record(index[i], good.run, ctx)
            return Outgoing(key, value, kind)
        return good(index[i])

    return plan


def _backlog_phase(
    run: Run, scorers: list[ServiceProcess], plan: Plan, total: int
) -> tuple[PacedLoad, float]:
    """Produce ``total`` records while the scorers are stopped (SIGSTOP), then let them go
    and wait until all are accounted for: the scorers drain a backlog at full speed."""
    for s in scorers:
        s.signal(signal.SIGSTOP)
    load = PacedLoad(run.settings.kafka, plan, rate=0, total=total)
    try:
        load.start()
        load.join(300)
    finally:
        resumed_at = time.monotonic()
        for s in scorers:
            s.signal(signal.SIGCONT)
    good, poison = load.sent.good(), list(load.sent.poison())
    wait_for(
        lambda: (
            run.ledger.predicted(good) == len(good)
            and sum(1 for k in poison if k in run.ledger.seen.dead) == len(poison)
        ),
        PHASE_TIMEOUT_S,
        poll_s=0.25,
    )
    return load, resumed_at


def _good_per_s(run: Run, load: PacedLoad, resumed_at: float) -> float:
    good = load.sent.good()
    span = run.ledger.last_arrival(good) - resumed_at
    return len(good) / span if span > 0 else 0.0


@pytest.mark.chaos_reduced
def test_poison_events(
    chaos_stack: ChaosStack, champion: ModelFlavor, log_dir: Path, scale: Scale
) -> None:
    result = ScenarioResult(
        6,
        f"{scale.poison_bad:,} poison events of every kind mixed into {scale.poison_good:,} "
        "good ones",
        "every poison event in the DLQ with its reason; every good one predicted once; "
        "throughput drop <= 10 % (a backlog drained with and without the poison)",
    )
    with scenario(result, chaos_stack.settings, champion, log_dir, scale) as run:
        ctx = PoisonContext(run.settings.s3.image_bucket, f"chaos/{run.dep.run_id}/small.png")
        run.dep.store.put_image(ctx.existing_key, b"\x89PNG\r\n\x1a\n" + bytes(64))
        scorers = run.fleet.scorers(2)
        run.wait_serving([s.name for s in scorers])
        # An unmeasured backlog first: the first full batches of a fresh scorer are slower
        # (measured: the first phase ran 40 % under the second), which would flatter poison.
        warm, _ = _backlog_phase(run, scorers, MnistImages(f"{run.dep.run_id}-warm"), 5000)
        # Alternate clean and poisoned backlogs and compare medians: one short phase of
        # each is dominated by the noise of a shared machine (seen: -63 %, -21 %, +22 %).
        loads: list[PacedLoad] = [warm]
        clean_rates: list[float] = []
        mixed_rates: list[float] = []
        for rep in range(PHASE_PAIRS):
            clean, clean_at = _backlog_phase(
                run, scorers, MnistImages(f"{run.dep.run_id}-clean{rep}"), scale.poison_good
            )
            mixed_plan = _mixed_plan(
                MnistImages(f"{run.dep.run_id}-mixed{rep}"),
                scale.poison_good,
                scale.poison_bad,
                ctx,
            )
            mixed, mixed_at = _backlog_phase(
                run, scorers, mixed_plan, scale.poison_good + scale.poison_bad
            )
            clean_rates.append(_good_per_s(run, clean, clean_at))
            mixed_rates.append(_good_per_s(run, mixed, mixed_at))
            loads += [clean, mixed]
            _check_dead_letters(run, mixed)
        run.load = loads[1]  # tally counts every phase
        for other in loads[:1] + loads[2:]:
            _merge(run.load, other)
        run.tally()
        clean_rate = statistics.median(clean_rates)
        mixed_rate = statistics.median(mixed_rates)
        drop = 1 - mixed_rate / clean_rate if clean_rate else 1.0
        result.details["good_per_s_clean_phases"] = [round(r) for r in clean_rates]
        result.details["good_per_s_mixed_phases"] = [round(r) for r in mixed_rates]
        result.details["good_per_s_clean"] = round(clean_rate)  # medians
        result.details["good_per_s_mixed"] = round(mixed_rate)
        result.details["throughput_drop"] = round(drop, 3)
        # A reduced run's phases last a second or two: too short to time on shared cores,
        # so CI records the drop and `make chaos` (full phases) is the one that checks it.
        result.check(
            scale.reduced or drop <= MAX_THROUGHPUT_DROP,
            f"throughput dropped {drop:.1%} with poison ({clean_rate:.0f} -> "
            f"{mixed_rate:.0f} good events/s; limit 10 %)",
        )
    assert result.passed, result.summary()


def _merge(into: PacedLoad, other: PacedLoad) -> None:
    with into.sent.lock, other.sent.lock:
        into.sent.partition_of.update(other.sent.partition_of)
        into.sent.kind_of.update(other.sent.kind_of)
        into.sent.failed += other.sent.failed


def _check_dead_letters(run: Run, mixed: PacedLoad) -> None:
    poison = mixed.sent.poison()
    with run.ledger.lock:
        dead = dict(run.ledger.seen.dead)
        predicted = [k for k in poison if run.ledger.seen.counts[k]]
    missing = {k: kind for k, kind in poison.items() if k not in dead}
    unexplained = [k for k in poison if k in dead and not all(d.error for d in dead[k])]
    twice = [k for k in poison if len(dead.get(k, [])) > 1]
    wrong_origin = [
        k
        for k in poison
        if any(d.origin_topic != run.settings.kafka.image_topic for d in dead.get(k, []))
    ]
    reasons = {}
    for key, kind in poison.items():
        if key in dead and kind not in reasons:
            reasons[kind] = dead[key][0].error[:160]
    missing_kinds = sorted(set(missing.values()))
    run.result.details["poison_sent"] = len(poison)
    run.result.details["poison_dead_lettered"] = len(poison) - len(missing)
    run.result.details["reason_per_kind"] = reasons
    run.result.details["missing_kinds"] = missing_kinds
    run.result.check(
        not missing, f"{len(missing)} poison events not in the DLQ (kinds {missing_kinds})"
    )
    run.result.check(not unexplained, f"{len(unexplained)} dead letters without a reason")
    run.result.check(not twice, f"{len(twice)} poison events dead-lettered more than once")
    run.result.check(not wrong_origin, f"{len(wrong_origin)} dead letters with a wrong origin")
    run.result.check(not predicted, f"{len(predicted)} poison events were predicted")


def test_bad_labels(
    chaos_stack: ChaosStack, champion: ModelFlavor, log_dir: Path, scale: Scale
) -> None:
    result = ScenarioResult(
        7,
        "a corpus of bad labels",
        "trainer and evaluator keep running; every bad label in arena.labels.dlq",
    )
    sections: dict[str, dict[str, object]] = {
        "trainer": {"finetune_every_labels": 500, "flavor": "sklearn"}
    }
    with scenario(result, chaos_stack.settings, champion, log_dir, scale, **sections) as run:
        trainer = run.fleet.add("trainer", "trainer")
        evaluator = run.fleet.add("evaluator", "evaluator")
        images = MnistImages(run.dep.run_id, label_every=2)
        load = run.start_load(images, rate=scale.rate, min_events=scale.min_events)
        producer = make_producer(run.settings.kafka)
        bad: dict[str, str] = {}
        rounds = 10
        for r in range(rounds):
            time.sleep(1.0)
            _send_bad_labels(producer, run, images, load.produced, r, bad)
        flush_or_raise(producer, 30)
        run.finish_load()
        label_dlq = run.settings.kafka.dlq_topic(run.settings.kafka.label_topic)
        wait_for(lambda: set(bad) <= set(run.ledger.seen.dead_labels), 60.0, poll_s=0.5)
        time.sleep(5.0)  # the trainer keeps consuming: does it survive what it just read?
        with run.ledger.lock:
            dead = dict(run.ledger.seen.dead_labels)
        missing = sorted({kind for key, kind in bad.items() if key not in dead})
        never = sorted(set(missing) - {kind for key, kind in bad.items() if key in dead})
        result.events = load.produced + len(bad)
        result.details["bad_labels_sent"] = len(bad)
        result.details["bad_labels_dead_lettered"] = sum(1 for k in bad if k in dead)
        result.details["missing_kinds"] = missing
        result.details["kinds_never_dead_lettered"] = never
        result.details["trainer_versions"] = len(run.dep.registry.list_versions()) - 1
        result.details["reason_per_kind"] = {
            kind: dead[key][0].error[:160] for key, kind in bad.items() if key in dead
        }
        for service in (trainer, evaluator):
            if not service.alive():
                result.details[f"{service.name}_log"] = service.log_tail(25)
        result.check(trainer.alive(), f"the trainer exited (code {trainer.exit_code()})")
        result.check(evaluator.alive(), f"the evaluator exited (code {evaluator.exit_code()})")
        result.check(
            not missing,
            f"{sum(1 for k in bad if k not in dead)} of {len(bad)} bad labels missing from "
            f"{label_dlq}; kinds never dead-lettered: {never}",
        )
    assert result.passed, result.summary()


def _send_bad_labels(
    producer: Producer,
    run: Run,
    images: MnistImages,
    produced: int,
    round_: int,
    bad: dict[str, str],
) -> None:
    """One of each bad label, keyed so the ledger can find it; semantic ones name a real,
    recent image so the trainer's join would match them."""
    for j, (kind, make) in enumerate(BAD_LABELS.items()):
        real_id = f"{images.run}-{max(produced - 50 - j, 0):08d}"
        key = f"{run.dep.run_id}-badlabel-{kind}-{round_}"
        value = make(real_id)
        producer.produce(run.settings.kafka.label_topic, value, key.encode())
        bad[key] = kind
