from __future__ import annotations

from arena.bus.backoff import Backoff


def test_delays_grow_to_the_cap_and_reset_after_success() -> None:
    backoff = Backoff(initial_s=1.0, max_s=4.0)
    delays = [backoff.next_delay() for _ in range(5)]
    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.next_delay() <= 1.0
