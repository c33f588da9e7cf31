"""The native stack: a warm restart is quick, and every server answers afterwards."""

from __future__ import annotations

import time

from arena.config import Settings
from arena.stack import runner


def test_second_up_after_down_is_ready_within_30_seconds(settings: Settings) -> None:
    runner.up(settings)
    runner.down(settings)
    assert not any(answering for _, answering, _ in runner.status(settings))

    started = time.monotonic()
    runner.up(settings)
    elapsed = time.monotonic() - started

    assert elapsed < 30, f"warm `arena stack up` took {elapsed:.1f} s"
    assert all(answering for _, answering, _ in runner.status(settings))


def test_up_is_idempotent_while_running(settings: Settings) -> None:
    first = {r.name: r for r in runner.up(settings)}
    second = runner.up(settings)
    assert {r.name for r in second} == set(first) == {"kafka", "postgres", "minio"}
    assert all(r.installed_s == 0 for r in second)
