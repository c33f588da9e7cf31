"""Which challengers are on trial in a round, and which trials end undecided.

Up to ``concurrent_trials`` challengers are on trial at once, each against the champion on
the same fresh events. A newer challenger does not have to end the trial of an older one
that is close to winning: both gather evidence, and the first to show it is better is
promoted. Each trial keeps its own always-valid test, so the false-promotion bound holds per
challenger however many run side by side (ending a trial without a promotion never raises
it).

A trial ends undecided when:

- its challenger was fine-tuned from an earlier champion and a newer candidate was
  fine-tuned from the current one (``behind_the_champion``): it can only hold the newer one
  up;
- every slot is taken, a newer candidate waits, and it is the oldest trial that has had its
  chance (``has_had_its_chance``).

Candidates that are neither on trial nor the newest are superseded without a trial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from arena.config import EvaluatorSettings
from evaluator.trial import Trial
from storage.domain import ModelVersion

BEHIND = "behind"
SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class Look:
    """One challenger to look at this round; ``ending``: why this is its trial's last look
    (``BEHIND`` or ``SUPERSEDED``), or None."""

    challenger: ModelVersion
    ending: str | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    """This round's looks, newest challenger first, and the candidates superseded without
    a trial."""

    looks: list[Look] = field(default_factory=list)
    superseded: list[ModelVersion] = field(default_factory=list)
    newest: ModelVersion | None = None


def plan_round(
    candidates: Sequence[ModelVersion],
    trials: Mapping[int, Trial],
    champion: ModelVersion,
    cfg: EvaluatorSettings,
) -> Schedule:
    """The round's schedule for ``candidates`` (sorted by id), given the ``trials`` in
    progress (by challenger id)."""
    if not candidates:
        return Schedule()
    newest = candidates[-1]
    on_trial = [v for v in candidates if v.id in trials]
    ending: dict[int, str] = {
        v.id: BEHIND for v in on_trial if behind_the_champion(v, newest, champion)
    }
    if newest.id not in trials:
        running = [v for v in on_trial if v.id not in ending]
        if len(running) >= cfg.concurrent_trials:
            done = [v for v in running if has_had_its_chance(trials[v.id], cfg)]
            if done:  # the oldest of those makes room; the newest starts next round
                ending[done[0].id] = SUPERSEDED
        else:
            on_trial.append(newest)
    looks = [Look(v, ending.get(v.id)) for v in sorted(on_trial, key=lambda v: -v.id)]
    judged = {v.id for v in on_trial}
    superseded = [v for v in candidates if v.id not in judged and v.id != newest.id]
    return Schedule(looks, superseded, newest)


def has_had_its_chance(trial: Trial, cfg: EvaluatorSettings) -> bool:
    """Whether a newer challenger may replace the one on trial: the trial has
    ``supersede_after`` events, or twice as many when it is close to a promotion (always-valid
    p below ``promising_p``). Trials superseded at p = 0.01-0.03 threw away 400-500 events of
    evidence that a few more would have made decisive. The test stays valid: when to stop a
    trial may depend on its data."""
    enough = max(cfg.min_samples, cfg.supersede_after)
    if trial.test.p_better < cfg.promising_p:
        enough *= 2
    return len(trial) >= enough


def behind_the_champion(
    challenger: ModelVersion, newest: ModelVersion, champion: ModelVersion
) -> bool:
    """Whether ``challenger`` was fine-tuned from an earlier champion while ``newest``, a
    newer candidate, was fine-tuned from the current one."""
    return (
        newest.id > challenger.id
        and challenger.parent_id != champion.id
        and newest.parent_id == champion.id
    )
