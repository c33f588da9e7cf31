"""The fleet view marks a scorer stale when its latest status (a heartbeat or a change) is
older than 3 heartbeats, and never while heartbeats are off."""

from __future__ import annotations

from arena.api import views
from arena.api.fleet import FleetState
from arena.bus.lag import PartitionLag
from arena.events import ScorerStatus, now_ms


def test_a_scorer_not_heard_from_in_three_heartbeats_is_stale() -> None:
    now = 1_000_000
    scorers = [
        ScorerStatus("fresh", 3, "serving", timestamp_ms=now - 29_000),
        ScorerStatus("gone", 3, "serving", timestamp_ms=now - 31_000),
    ]
    assert FleetState(scorers, [], heartbeat_s=10).stale_ids(now) == {"gone"}
    assert FleetState(scorers, [], heartbeat_s=0).stale_ids(now) == frozenset()


def test_the_fleet_json_says_which_scorer_is_stale_and_when_each_was_last_seen() -> None:
    recent, old = now_ms(), now_ms() - 120_000
    state = FleetState(
        [
            ScorerStatus("s1", 3, "serving", timestamp_ms=recent),
            ScorerStatus("s2", 2, "serving", timestamp_ms=old),
        ],
        [PartitionLag("arena.images", 0, committed=5, end=9)],
        heartbeat_s=10,
    )
    fleet = views.fleet(state, champion=3, serving=3, pin=None)
    by_id = {s["scorer_id"]: s for s in fleet["scorers"]}
    assert (by_id["s1"]["last_seen_ms"], by_id["s1"]["stale"], by_id["s1"]["up_to_date"]) == (
        recent,
        False,
        True,
    )
    assert (by_id["s2"]["last_seen_ms"], by_id["s2"]["stale"], by_id["s2"]["up_to_date"]) == (
        old,
        True,
        False,
    )
    assert fleet["total_lag"] == 4
