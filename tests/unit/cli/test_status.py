"""What makes `arena status` exit 1: a split fleet, a refused or unhealthy model, a stuck
scorer, a fleet not heard from; and what a stale scorer changes."""

from __future__ import annotations

from arena.bus.dlq_replay import DeadLetter
from arena.cli.dlq_cmd import select_letters
from arena.cli.status_cmd import fleet_problems
from arena.events import ScorerStatus


def test_a_fleet_serving_the_registrys_version_has_no_problem() -> None:
    fleet = [ScorerStatus("a", 3, "serving"), ScorerStatus("b", 3, "serving")]
    assert fleet_problems(fleet, 3) == []
    assert fleet_problems([], 3) == []


def test_a_split_fleet_and_a_stuck_scorer_are_problems() -> None:
    fleet = [ScorerStatus("a", 3, "serving"), ScorerStatus("b", 2, "serving")]
    problems = fleet_problems(fleet, 3)
    assert problems[0] == "split: scorers serve versions 2, 3"
    assert problems[1:] == ["b: stuck on version 2, registry serves 3"]


def test_a_refused_or_unhealthy_version_is_a_problem() -> None:
    fleet = [
        ScorerStatus("a", 4, "load_failed", "bad signature"),
        ScorerStatus("b", 3, "unhealthy"),
    ]
    assert fleet_problems(fleet, 3) == [
        "a: load_failed version 4: bad signature",
        "b: unhealthy version 3: ",
    ]


def test_a_stale_scorer_is_left_out_of_the_checks_but_a_wholly_stale_fleet_is_a_problem() -> None:
    fleet = [
        ScorerStatus("a", 3, "serving"),
        ScorerStatus("old", 2, "serving"),  # retired while on v2: no split, not stuck
        ScorerStatus("gone", 4, "load_failed", "bad signature"),
    ]
    assert fleet_problems(fleet, 3, frozenset({"old", "gone"})) == []
    assert fleet_problems(fleet, 3, frozenset({"a", "old", "gone"})) == [
        "stale: no scorer heard from in 3 heartbeats (a, gone, old)"
    ]


def _letter(partition: int, offset: int, error: str) -> DeadLetter:
    return DeadLetter("t.dlq", partition, offset, 0, b"k", b"v", [], error, "t", 0, offset)


def test_dead_letters_are_chosen_by_partition_offset_range_and_reason() -> None:
    letters = [_letter(0, 0, "x: missing"), _letter(0, 1, "y: bad"), _letter(1, 1, "z: missing")]
    assert select_letters(letters, first=1) == letters[1:]
    assert select_letters(letters, partition=0, first=1, last=1) == [letters[1]]
    assert select_letters(letters, reason="missing") == [letters[0], letters[2]]
    assert select_letters(letters, partition=1, reason="bad") == []
