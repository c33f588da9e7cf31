"""Which challengers are on trial in a round, and which trials end undecided
(``evaluator.schedule``): pure logic, no servers."""

from __future__ import annotations

import numpy as np

from arena.config import EvaluatorSettings
from arena.join import EventPosition, LabeledExample
from evaluator.schedule import (
    BEHIND,
    SUPERSEDED,
    behind_the_champion,
    has_had_its_chance,
    plan_round,
)
from evaluator.trial import Trial
from storage.domain import ModelVersion
from tests.unit.versions import model_version


def version(vid: int, parent: int | None = None) -> ModelVersion:
    return model_version(vid, parent=parent)


def trial_of(challenger: int, wins: int, losses: int, ties: int, champion: int = 1) -> Trial:
    """A trial whose challenger won ``wins`` discordant events and lost ``losses``."""
    trial = Trial(champion, challenger, n_classes=10)
    probabilities = np.eye(10, dtype=np.float32)
    # Interleaved, so the evidence grows evenly (the test remembers its best look).
    discordant = [(0, 1)] * wins + [(1, 0)] * losses
    order = np.argsort(np.r_[np.arange(wins) / max(wins, 1), np.arange(losses) / max(losses, 1)])
    outcomes = [discordant[i] for i in order] + [(0, 0)] * ties
    for i, (champion_right, challenger_right) in enumerate(outcomes):
        e = LabeledExample(
            f"ev-{i}", EventPosition("arena.images", 0, i), np.zeros((2, 2), np.uint8), 1
        )
        champion_p = probabilities[1 if champion_right else 0]  # the label is 1
        challenger_p = probabilities[1 if challenger_right else 0]
        trial.add([e], champion_p[None], challenger_p[None])
    return trial


class TestBehindTheChampion:
    def test_a_challenger_from_an_earlier_champion_is_behind_a_newer_one_from_the_current(
        self,
    ) -> None:
        champion = version(5, parent=1)
        assert behind_the_champion(version(6, parent=1), version(7, parent=5), champion)

    def test_not_behind_when_it_starts_from_the_champion_or_the_newer_one_does_not(self) -> None:
        champion = version(5, parent=1)
        assert not behind_the_champion(version(6, parent=5), version(7, parent=5), champion)
        assert not behind_the_champion(version(6, parent=1), version(7, parent=1), champion)
        assert not behind_the_champion(version(6, parent=1), version(6, parent=1), champion)


class TestSupersede:
    @staticmethod
    def trial(wins: int, losses: int, ties: int) -> Trial:
        return trial_of(2, wins, losses, ties)

    def test_an_undecided_trial_may_be_superseded_after_supersede_after_events(self) -> None:
        cfg = EvaluatorSettings(supersede_after=400, promising_p=0.05)
        trial = self.trial(wins=10, losses=10, ties=379)
        assert trial.test.p_better >= 0.05 and not has_had_its_chance(trial, cfg)
        assert has_had_its_chance(self.trial(wins=10, losses=10, ties=380), cfg)

    def test_a_trial_close_to_a_promotion_gets_twice_as_many(self) -> None:
        cfg = EvaluatorSettings(supersede_after=400, promising_p=0.05)
        close = self.trial(wins=30, losses=10, ties=360)
        assert 0.01 < close.test.p_better < 0.05
        assert not has_had_its_chance(close, cfg)
        assert has_had_its_chance(self.trial(wins=30, losses=10, ties=760), cfg)
        # promising_p 0: the plain rule
        assert has_had_its_chance(close, EvaluatorSettings(supersede_after=400, promising_p=0))


class TestPlanRound:
    cfg = EvaluatorSettings(supersede_after=400, promising_p=0.05, concurrent_trials=2)
    champion = version(1)

    def looks(
        self, candidates: list[ModelVersion], trials: dict[int, Trial]
    ) -> list[tuple[int, str | None]]:
        schedule = plan_round(candidates, trials, self.champion, self.cfg)
        return [(look.challenger.id, look.ending) for look in schedule.looks]

    def test_nothing_to_judge_without_candidates(self) -> None:
        schedule = plan_round([], {}, self.champion, self.cfg)
        assert schedule.looks == [] and schedule.superseded == [] and schedule.newest is None

    def test_the_newest_candidate_starts_a_trial_and_older_ones_without_a_trial_are_superseded(
        self,
    ) -> None:
        candidates = [version(2, 1), version(3, 1), version(4, 1)]
        schedule = plan_round(candidates, {}, self.champion, self.cfg)
        assert [(look.challenger.id, look.ending) for look in schedule.looks] == [(4, None)]
        assert [v.id for v in schedule.superseded] == [2, 3]

    def test_a_newer_challenger_runs_beside_a_trial_in_progress_newest_first(self) -> None:
        trials = {2: trial_of(2, wins=30, losses=10, ties=800)}  # long, and close to winning
        assert self.looks([version(2, 1), version(3, 1)], trials) == [(3, None), (2, None)]

    def test_when_every_slot_is_taken_the_oldest_trial_that_had_its_chance_makes_room(
        self,
    ) -> None:
        trials = {
            2: trial_of(2, wins=10, losses=10, ties=400),  # had its chance
            3: trial_of(3, wins=10, losses=10, ties=400),  # had its chance too, but newer
        }
        candidates = [version(2, 1), version(3, 1), version(4, 1)]
        assert self.looks(candidates, trials) == [(3, None), (2, SUPERSEDED)]

    def test_when_no_trial_had_its_chance_the_newest_waits(self) -> None:
        trials = {
            2: trial_of(2, wins=30, losses=10, ties=400),  # promising: twice the events
            3: trial_of(3, wins=5, losses=5, ties=100),
        }
        schedule = plan_round(
            [version(2, 1), version(3, 1), version(4, 1)], trials, self.champion, self.cfg
        )
        assert [(look.challenger.id, look.ending) for look in schedule.looks] == [
            (3, None),
            (2, None),
        ]
        assert schedule.superseded == [], "the newest waits for a slot; it is not superseded"

    def test_a_trial_from_an_earlier_champion_ends_at_once_and_frees_its_slot(self) -> None:
        champion = version(5, parent=1)
        trials = {
            3: trial_of(3, wins=5, losses=5, ties=10),
            4: trial_of(4, wins=5, losses=5, ties=10),
        }
        candidates = [version(3, 1), version(4, 5), version(6, 5)]
        schedule = plan_round(candidates, trials, champion, self.cfg)
        assert [(look.challenger.id, look.ending) for look in schedule.looks] == [
            (6, None),
            (4, None),
            (3, BEHIND),
        ]

    def test_one_slot_is_the_single_trial_of_before(self) -> None:
        one = EvaluatorSettings(supersede_after=400, concurrent_trials=1)
        trials = {2: trial_of(2, wins=10, losses=10, ties=100)}
        schedule = plan_round([version(2, 1), version(3, 1)], trials, self.champion, one)
        assert [(look.challenger.id, look.ending) for look in schedule.looks] == [(2, None)]
        trials = {2: trial_of(2, wins=10, losses=10, ties=400)}
        schedule = plan_round([version(2, 1), version(3, 1)], trials, self.champion, one)
        assert [(look.challenger.id, look.ending) for look in schedule.looks] == [(2, SUPERSEDED)]
