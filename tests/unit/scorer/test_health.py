from __future__ import annotations

from arena.bus.loop import run_until_stopped
from arena.bus.stop import StopFlag
from arena.errors import BusError
from scorer.health import Heartbeat, healthz


def test_healthz_shows_degraded_while_a_failure_is_retried_then_ok() -> None:
    heartbeat = Heartbeat()
    seen: list[tuple[int, bytes]] = []
    outcomes = [BusError("send offsets: timed out", retriable=True), None]
    stop = StopFlag(exit_deadline_s=None)

    def step() -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        stop.set()

    def on_retry(exc: BusError) -> None:
        seen.append(healthz(heartbeat, lambda: "following; announced 3, serving 3"))

    run_until_stopped(stop, step, on_retry=on_retry, health=heartbeat)

    assert seen == [
        (200, b"degraded: send offsets: timed out\nreloader: following; announced 3, serving 3\n")
    ]
    assert healthz(heartbeat, None) == (200, b"ok\n")


def test_healthz_says_stuck_when_the_loop_stops_going_round() -> None:
    heartbeat = Heartbeat(stale_after_s=0.0)
    assert healthz(heartbeat, None) == (503, b"stuck\n")
