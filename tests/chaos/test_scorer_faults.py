"""Scenarios 1, 2, 3 and 10: the scorer fleet under process and broker faults."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from arena.config import Settings
from arena.flavors import ModelFlavor
from tests.chaos.fleet import ServiceProcess
from tests.chaos.load import MnistImages
from tests.chaos.report import ScenarioResult
from tests.chaos.scale import Scale
from tests.chaos.scenario import Run, scenario, within, worst
from tests.chaos.stack import ChaosStack

RESTART_DELAY_S = 1.0  # a supervisor's restart delay after a crash
SCORER_RESUME_LIMIT_S = 15.0
BROKER_RESUME_LIMIT_S = 30.0
EXIT_LIMIT_S = 10.0
RECOVERY_CAP_S = 60.0  # stop waiting after this (recorded as "did not recover")


@pytest.mark.chaos_reduced
def test_kill9_scorer(
    chaos_stack: ChaosStack, champion: ModelFlavor, log_dir: Path, scale: Scale
) -> None:
    result = ScenarioResult(
        1,
        f"kill -9 a scorer {scale.scorer_kills} times (3 scorers, 4 partitions)",
        "0 lost, 0 duplicated; each partition's predictions resume <= 15 s after the restart",
    )
    with scenario(result, chaos_stack.settings, champion, log_dir, scale) as run:
        scorers = run.fleet.scorers(3)
        run.wait_serving([s.name for s in scorers])
        run.start_load(MnistImages(run.dep.run_id), rate=scale.rate, min_events=scale.min_events)
        run.wait_flowing([s.name for s in scorers])
        recoveries: list[float | None] = []
        for k in range(scale.scorer_kills):
            victim = scorers[k % len(scorers)]
            victim.kill9()
            time.sleep(RESTART_DELAY_S)
            victim.start()
            restarted = time.monotonic()
            recoveries.append(run.wait_resumed(restarted, RECOVERY_CAP_S))
            run.wait_serving([victim.name], since=restarted)  # back in before the next kill
        run.finish_load()
        run.drain(run.load.sent.good() if run.load else [])
        run.tally()
        run.check_rate()
        result.recovery_s = worst(recoveries)
        result.recovery_cap_s = RECOVERY_CAP_S
        result.details["recovery_per_kill_s"] = recoveries
        result.check(
            within(result.recovery_s, SCORER_RESUME_LIMIT_S * scale.time_slack),
            f"a partition resumed only after {result.recovery_s} s (limit "
            f"{SCORER_RESUME_LIMIT_S * scale.time_slack:.0f} s; None = not "
            f"within {RECOVERY_CAP_S:.0f} s); per kill: {recoveries}",
        )
    assert result.passed, result.summary()


def _broker_fault(
    number: int,
    name: str,
    chaos_stack: ChaosStack,
    champion: ModelFlavor,
    log_dir: Path,
    scale: Scale,
    fault: str,
) -> None:
    result = ScenarioResult(
        number,
        name,
        "0 lost, 0 duplicated; scorers resume without a restart <= 30 s after the broker answers",
    )
    with scenario(result, chaos_stack.settings, champion, log_dir, scale) as run:
        run.scorers_under_load(2, MnistImages(run.dep.run_id))
        if fault == "kill9":
            chaos_stack.kill9("kafka")
            time.sleep(5.0)
            answered = chaos_stack.start("kafka")
        else:
            chaos_stack.signal("kafka", signal.SIGSTOP)
            time.sleep(20.0)
            chaos_stack.signal("kafka", signal.SIGCONT)
            answered = chaos_stack.wait_answering("kafka")
        result.recovery_s = run.wait_resumed(answered, RECOVERY_CAP_S)
        result.recovery_cap_s = RECOVERY_CAP_S
        time.sleep(3.0)
        run.finish_load()
        run.drain(run.load.sent.good() if run.load else [])
        run.tally()
        run.check_rate()
        _check_no_restart(run)
        result.check(
            within(result.recovery_s, BROKER_RESUME_LIMIT_S * scale.time_slack),
            f"predictions resumed on every partition only after {result.recovery_s} s "
            f"(limit {BROKER_RESUME_LIMIT_S * scale.time_slack:.0f} s; None = not within "
            f"{RECOVERY_CAP_S:.0f} s)",
        )
    assert result.passed, result.summary()


def _terminate_all(services: list[ServiceProcess], cap_s: float) -> dict[str, float | None]:
    """SIGTERM every service at once; seconds until each exited (None: still running)."""
    sent = time.monotonic()
    for service in services:
        service.signal(signal.SIGTERM)
    exits: dict[str, float | None] = dict.fromkeys((s.name for s in services), None)
    while time.monotonic() - sent < cap_s and any(s.alive() for s in services):
        for s in services:
            if exits[s.name] is None and not s.alive():
                exits[s.name] = time.monotonic() - sent
        time.sleep(0.05)
    for s in services:
        if exits[s.name] is None and not s.alive():
            exits[s.name] = time.monotonic() - sent
    return exits


def _check_no_restart(run: Run) -> None:
    crashed = run.fleet.crashed()
    run.result.details["crashed"] = crashed
    if crashed:
        run.result.details["crash_logs"] = {n: run.fleet.services[n].log_tail(25) for n in crashed}
    run.result.check(not crashed, f"services exited during the fault: {crashed}")


@pytest.mark.chaos_reduced
def test_kill9_broker(
    chaos_stack: ChaosStack, champion: ModelFlavor, log_dir: Path, scale: Scale
) -> None:
    _broker_fault(
        2,
        "kill -9 the broker, restart it after 5 s",
        chaos_stack,
        champion,
        log_dir,
        scale,
        "kill9",
    )


def test_sigstop_broker(
    chaos_stack: ChaosStack, champion: ModelFlavor, log_dir: Path, scale: Scale
) -> None:
    _broker_fault(
        3,
        "SIGSTOP the broker for 20 s, then SIGCONT",
        chaos_stack,
        champion,
        log_dir,
        scale,
        "sigstop",
    )


def test_sigterm_during_broker_outage(
    chaos_stack: ChaosStack, champion: ModelFlavor, log_dir: Path, scale: Scale
) -> None:
    result = ScenarioResult(
        10,
        "SIGTERM each service during a broker outage",
        "each service exits <= 10 s after SIGTERM; afterwards 0 lost, 0 duplicated",
    )
    settings: Settings = chaos_stack.settings
    with scenario(result, settings, champion, log_dir, scale) as run:
        (scorer,) = run.fleet.scorers(1)
        trainer = run.fleet.add("trainer", "trainer")
        evaluator = run.fleet.add("evaluator", "evaluator")
        run.wait_serving([scorer.name])
        plan = MnistImages(run.dep.run_id, label_every=2)
        run.start_load(plan, rate=scale.rate, min_events=scale.min_events)
        run.wait_flowing([scorer.name])
        time.sleep(3.0)  # trainer and evaluator consuming too
        chaos_stack.kill9("kafka")
        time.sleep(3.0)  # the clients notice the outage
        services = [scorer, trainer, evaluator]
        result.check(
            all(s.alive() for s in services),
            f"services exited before SIGTERM: {run.fleet.crashed()}",
        )
        exits = _terminate_all(services, 30.0)
        result.details["exit_s"] = exits
        result.details["exit_codes"] = {s.name: s.exit_code() for s in services}
        stuck = {s.name: s.log_tail(15) for s in services if s.alive()}
        result.details["stuck_logs"] = stuck
        for service in services:
            if service.alive():
                service.kill9()
        slow = {n: t for n, t in exits.items() if not within(t, EXIT_LIMIT_S)}
        result.recovery_s = worst(list(exits.values()))
        result.recovery_cap_s = 30.0
        result.check(not slow, f"exits slower than 10 s (None: still running at 30 s): {slow}")
        chaos_stack.start("kafka")
        restarted = time.monotonic()
        scorer.start()
        run.wait_serving([scorer.name], since=restarted)
        time.sleep(2.0)
        run.finish_load()
        run.drain(run.load.sent.good() if run.load else [])
        run.tally()
    assert result.passed, result.summary()
