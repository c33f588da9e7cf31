"""The one service loop: retries outages and retriable bus errors, raises the rest, stops."""

from __future__ import annotations

import pytest

from arena.bus.backoff import Backoff
from arena.bus.loop import BatchLoop, run_until_stopped
from arena.bus.stop import StopFlag
from arena.errors import BusError


def test_outages_and_retriable_bus_errors_are_retried_until_the_step_succeeds() -> None:
    stop = StopFlag()
    failures = [ConnectionRefusedError("postgres down"), BusError("broker", retriable=True)]
    retried: list[Exception] = []
    calls = 0

    def step() -> None:
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop(0)
        stop.set()

    run_until_stopped(stop, step, backoff=Backoff(0.001, 0.002), on_retry=retried.append)
    assert calls == 3 and [type(e) for e in retried] == [ConnectionRefusedError, BusError]


@pytest.mark.parametrize("error", [ValueError("a bug"), BusError("fatal", retriable=False)])
def test_anything_else_is_raised(error: Exception) -> None:
    def step() -> None:
        raise error

    with pytest.raises(type(error)):
        run_until_stopped(StopFlag(), step, backoff=Backoff(0.001, 0.002))


def test_stop_ends_a_back_off_at_once() -> None:
    stop = StopFlag()

    def step() -> None:
        stop.set()  # the stop arrives while the step fails: the 60 s back-off is cut short
        raise ConnectionResetError("reset")

    run_until_stopped(stop, step, backoff=Backoff(60, 60))


class FakeConsumer:
    def __init__(self, batches: list[list[str]]) -> None:
        self.batches = batches
        self.asked: list[tuple[int, float]] = []

    def consume(self, n: int, timeout_s: float) -> list[str]:
        self.asked.append((n, timeout_s))
        return self.batches.pop(0) if self.batches else []


def test_batch_loop_hands_batches_to_the_handler_and_idles_between() -> None:
    stop = StopFlag()
    consumer = FakeConsumer([["a", "b"], [], ["c"]])
    seen: list[list[str]] = []
    idles = 0

    def on_idle() -> None:
        nonlocal idles
        idles += 1
        if not consumer.batches:
            stop.set()

    loop = BatchLoop(consumer, batch_size=7, batch_timeout_s=0.05)  # type: ignore[arg-type]
    loop.run(stop, seen.append, on_idle=on_idle)  # type: ignore[arg-type]
    assert seen == [["a", "b"], ["c"]] and idles == 2
    assert set(consumer.asked) == {(7, 0.05)}
