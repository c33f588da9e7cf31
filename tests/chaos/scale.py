"""How big a run is: the full acceptance run (``make chaos``) or the reduced CI guard."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    reduced: bool
    rate: float  # events per second offered by the paced load
    min_events: int  # at least this many good events per scenario
    scorer_kills: int  # scenario 1
    poison_good: int  # scenario 6: good events per phase
    poison_bad: int  # scenario 6: poison events mixed in
    poison_pairs: int  # scenario 6: clean/poisoned backlog pairs timed (even: ABBA order)
    # Recovery-time limits are multiplied by this. The reduced run is CI's guard, on shared
    # cores where a restarted scorer's model load alone varies 5-15 s: it keeps every
    # exactly-once check strict and catches a wedge, `make chaos` holds the exact targets.
    time_slack: float = 1.0


FULL = Scale(
    reduced=False,
    rate=1500,
    min_events=20_000,
    scorer_kills=5,
    poison_good=20_000,
    poison_bad=1000,
    poison_pairs=14,
)
REDUCED = Scale(
    reduced=True,
    rate=1500,
    min_events=6_000,
    scorer_kills=2,
    poison_good=6_000,
    poison_bad=300,
    poison_pairs=2,
    time_slack=2.0,
)
