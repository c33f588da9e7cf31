"""Scenarios 6 and 7: poison images and bad labels mixed into good traffic."""

from __future__ import annotations

import os
import random
import signal
import statistics
import time
from dataclasses import dataclass
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


@dataclass
class Phase:
    """One backlog drained: its records, the good events' span, and the CPU seconds each
    party used meanwhile (scorers, broker, MinIO, this harness with its ledger)."""

    load: PacedLoad
    good: int
    span_s: float
    cpu_s: dict[str, float]

    @property
    def good_per_s(self) -> float:
        return self.good / self.span_s if self.span_s > 0 else 0.0


def _backlog_phase(
    run: Run, scorers: list[ServiceProcess], plan: Plan, total: int, servers: dict[str, int]
) -> Phase:
    """Produce ``total`` records while the scorers are stopped (SIGSTOP), then let them go
    and wait until all are accounted for: the scorers drain a backlog at full speed."""
    for s in scorers:
        s.signal(signal.SIGSTOP)
    load = PacedLoad(run.settings.kafka, plan, rate=0, total=total)
    try:
        load.start()
        load.join(300)
    finally:
        parties = {"scorers": [s.pid for s in scorers], "harness": [os.getpid()]}
        parties |= {name: [pid] for name, pid in servers.items()}
        cpu_before = _cpu_by_party(parties)
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
    cpu = {k: v - cpu_before[k] for k, v in _cpu_by_party(parties).items()}
    return Phase(load, len(good), run.ledger.last_arrival(good) - resumed_at, cpu)


def _cpu_by_party(parties: dict[str, list[int]]) -> dict[str, float]:
    cpu = {name: sum(_cpu_s(pid) for pid in pids) for name, pids in parties.items()}
    if "kafka" in parties:  # of the broker's CPU, its JIT compilers' (a warm-up cost)
        cpu["kafka_jit"] = sum(_jit_cpu_s(pid) for pid in parties["kafka"])
    return cpu


def _jit_cpu_s(pid: int) -> float:
    """CPU seconds the JVM's compiler threads (C1, C2) of ``pid`` have used so far."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if "CompilerThre" in (task / "comm").read_text():
                total += _cpu_s(pid, thread=int(task.name))
        except (OSError, ValueError):
            continue  # a thread that ended meanwhile
    return total


def _cpu_s(pid: int, thread: int | None = None) -> float:
    """CPU seconds (user + system) the process (or its ``thread``) has used so far."""
    stat = Path(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pooled_rate(phases: list[Phase]) -> float:
    """Good events per second over all the phases together: every second weighs the same."""
    span = sum(p.span_s for p in phases)
    return sum(p.good for p in phases) / span if span > 0 else 0.0


@pytest.mark.chaos_reduced
def test_poison_events(
    chaos_stack: ChaosStack, champion: ModelFlavor, log_dir: Path, scale: Scale
) -> None:
    result = ScenarioResult(
        6,
        f"{scale.poison_bad:,} poison events of every kind mixed into {scale.poison_good:,} "
        "good ones",
        "every poison event in the DLQ with its reason; every good one predicted once; "
        "throughput drop <= 10 % (backlogs drained with and without the poison, "
        f"{scale.poison_pairs} of each, rates pooled)",
    )
    with scenario(result, chaos_stack.settings, champion, log_dir, scale) as run:
        ctx = PoisonContext(run.settings.s3.image_bucket, f"chaos/{run.dep.run_id}/small.png")
        run.dep.store.put_image(ctx.existing_key, b"\x89PNG\r\n\x1a\n" + bytes(64))
        scorers = run.fleet.scorers(2)
        run.wait_serving([s.name for s in scorers])
        # Three unmeasured backlogs first (poisoned, clean, poisoned): a fresh scorer and
        # broker speed up over their first tens of thousands of events (measured: clean
        # phases 10.1k, 12.0k, then 12.4k good events/s after a 5,000-event warm-up), and the
        # dead-letter path has first-use costs of its own (the object store's connections,
        # image plugins, the DLQ partitions' first writes). The broker's JIT is the largest:
        # after one warm-up backlog its compiler threads still burned 0.1-0.45 s of CPU in a
        # third of the timed phases (up to 22 us per good event, against the broker's 10 of
        # work), more in the poisoned ones, and the pooled drop of the same code varied
        # 2.6-10.2 % between runs. After three, they burned 0-2 us per good event in most
        # phases (at most 11, in 1 of 28), two runs of this scenario alone dropped 4.7 %
        # alike and a full fresh-clone `make chaos` 7.5 % (2026-12-02 20:00-20:20 UTC). A
        # broker just started compiles for longer: 10-60 us per good event over the first
        # ten timed phases; warming up until its compilers were quiet did not get there in
        # 12 backlogs (21:10 UTC), so the warm-up stays three. The CPU of each phase and the
        # broker's compilers are in the report, so such noise shows.
        servers = {name: chaos_stack.pid(name) for name in ("kafka", "minio")}

        def phase(name: str, poisoned: bool) -> Phase:
            """One backlog drained: clean, or with the poison mixed in (checked in the DLQ)."""
            images = MnistImages(f"{run.dep.run_id}-{name}")
            if not poisoned:
                return _backlog_phase(run, scorers, images, scale.poison_good, servers)
            plan = _mixed_plan(images, scale.poison_good, scale.poison_bad, ctx)
            total = scale.poison_good + scale.poison_bad
            drained = _backlog_phase(run, scorers, plan, total, servers)
            _check_dead_letters(run, drained.load)
            return drained

        warm = [phase(f"warm{i}", poisoned) for i, poisoned in enumerate((True, False, True))]
        # Pairs of clean and poisoned backlogs, in ABBA order (clean first, then poisoned
        # first) so that a drift of the machine's speed during the run weighs on both alike.
        # One ~2 s phase varies by +-15 % on shared cores, so the drop compares the rates
        # pooled over every phase of each kind, not one pair. Measured with 6 pairs, the
        # pooled drop varied 4-11 % between runs around a true cost of ~6 % (the scorers'
        # CPU per good event +2-8 %; 5 % more records to read and dead-letter): more pairs
        # narrow that (14 since the JIT warm-up above), so the run checks the poison and not
        # the machine's mood.
        clean: list[Phase] = []
        mixed: list[Phase] = []
        for rep in range(scale.poison_pairs):
            order = ("clean", "mixed") if rep % 2 == 0 else ("mixed", "clean")
            for kind in order:
                poisoned = kind == "mixed"
                (mixed if poisoned else clean).append(phase(f"{kind}{rep}", poisoned))
        loads = [p.load for p in [*warm, *clean, *mixed]]
        run.load = loads[0]  # tally counts every phase
        for other in loads[1:]:
            _merge(run.load, other)
        run.tally()
        clean_rate, mixed_rate = _pooled_rate(clean), _pooled_rate(mixed)
        drop = 1 - mixed_rate / clean_rate if clean_rate else 1.0
        pair_drops = [1 - m.good_per_s / c.good_per_s for c, m in zip(clean, mixed, strict=True)]
        details = result.details
        details["good_per_s_clean_phases"] = [round(p.good_per_s) for p in clean]
        details["good_per_s_mixed_phases"] = [round(p.good_per_s) for p in mixed]
        details["good_per_s_clean"] = round(clean_rate)  # pooled over the phases
        details["good_per_s_mixed"] = round(mixed_rate)
        details["throughput_drop"] = round(drop, 3)
        details["throughput_drop_per_pair"] = [round(d, 3) for d in pair_drops]
        details["throughput_drop_median_pair"] = round(statistics.median(pair_drops), 3)
        # What each party spent per good event: where the poison's cost goes, and figures
        # the machine's noise moves much less than a rate.
        details["cpu_us_per_good_clean"] = _cpu_per_good_us(clean)
        details["cpu_us_per_good_mixed"] = _cpu_per_good_us(mixed)
        details["cpu_us_per_good_per_phase"] = [
            {"kind": kind, "span_s": round(p.span_s, 3)} | _cpu_per_good_us([p])
            for pair in zip(clean, mixed, strict=True)
            for kind, p in zip(("clean", "mixed"), pair, strict=True)
        ]
        # A reduced run's phases last a second or two: too short to time on shared cores,
        # so CI records the drop and `make chaos` (full phases) is the one that checks it.
        result.check(
            scale.reduced or drop <= MAX_THROUGHPUT_DROP,
            f"throughput dropped {drop:.1%} with poison ({clean_rate:.0f} -> "
            f"{mixed_rate:.0f} good events/s over {len(clean)} phases of each; limit 10 %)",
        )
    assert result.passed, result.summary()


def _cpu_per_good_us(phases: list[Phase]) -> dict[str, int]:
    good = sum(p.good for p in phases) or 1
    return {
        name: round(sum(p.cpu_s[name] for p in phases) / good * 1e6) for name in phases[0].cpu_s
    }


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
