from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from evaluator.policy import PromotionPolicy

N_CLASSES = 10
POLICY = PromotionPolicy(min_samples=200, min_margin=0.01, significance=0.05, max_recall_drop=0.2)


def proba_of(pred: NDArray[np.int64]) -> NDArray[np.float64]:
    p = np.full((len(pred), N_CLASSES), 0.1 / (N_CLASSES - 1))
    p[np.arange(len(pred)), pred] = 0.9
    return p


def predictions(y: NDArray[np.int64], correct: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Probabilities that are right exactly where ``correct`` is True."""
    return proba_of(np.where(correct, y, (y + 1) % N_CLASSES))


def table(
    both: int, b: int, c: int, neither: int
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Labels, champion and challenger probabilities with McNemar counts b and c."""
    n = both + b + c + neither
    y = np.arange(n) % N_CLASSES
    champ = np.array([True] * both + [True] * b + [False] * c + [False] * neither)
    chall = np.array([True] * both + [False] * b + [True] * c + [False] * neither)
    return y, predictions(y, champ), predictions(y, chall)


def test_not_enough_samples() -> None:
    y, champ, chall = table(60, 0, 60, 0)
    d = POLICY.decide(y, champ, chall, N_CLASSES)
    assert not d.promote
    assert d.reason == "not enough samples: 120 < 200"
    assert d.champion_metrics["sample_count"] == 120  # evidence is recorded anyway


def test_margin_too_small() -> None:
    y, champ, chall = table(780, 0, 4, 216)  # 1000 samples, +0.004
    d = POLICY.decide(y, champ, chall, N_CLASSES)
    assert not d.promote
    assert d.reason == "margin 0.004 < 0.01"


def test_negative_margin() -> None:
    y, champ, chall = table(700, 50, 20, 230)
    d = POLICY.decide(y, champ, chall, N_CLASSES)
    assert not d.promote and d.reason == "margin -0.03 < 0.01"


def test_not_significant() -> None:
    # +0.02 accuracy, but 60 vs 54 discordant pairs is noise.
    y, champ, chall = table(150, 54, 60, 36)
    d = POLICY.decide(y, champ, chall, N_CLASSES)
    assert not d.promote
    assert d.reason.startswith("not significant: p=0.3")
    assert d.reason.endswith(">= 0.05")
    assert d.mcnemar.one_sided_p == pytest.approx(0.32, abs=0.01)


def test_recall_collapse_blocks_a_better_challenger() -> None:
    n = 1000
    y = np.arange(n) % N_CLASSES
    rng = np.random.default_rng(0)
    champ_ok = rng.random(n) < 0.81
    chall_ok = rng.random(n) < 0.99
    class7 = np.flatnonzero(y == 7)  # 100 events
    champ_ok[class7] = np.arange(100) < 91
    chall_ok[class7] = np.arange(100) < 55
    d = POLICY.decide(y, predictions(y, champ_ok), predictions(y, chall_ok), N_CLASSES)
    assert not d.promote
    assert d.reason == "recall of class 7 collapsed: 0.91 -> 0.55"


def test_recall_of_rare_classes_is_ignored() -> None:
    n = 300
    y = np.arange(n) % 9
    y[:4] = 9  # class 9 has 4 events, fewer than min_class_samples
    champ_ok = np.ones(n, dtype=bool)
    champ_ok[4:104] = False
    chall_ok = np.ones(n, dtype=bool)
    chall_ok[:4] = False  # challenger misses every class 9 event
    d = POLICY.decide(y, predictions(y, champ_ok), predictions(y, chall_ok), N_CLASSES)
    assert d.champion_metrics["recall_class_9"] == 1.0
    assert d.challenger_metrics["recall_class_9"] == 0.0
    assert d.promote, d.reason


def test_promote_reason_has_the_evidence() -> None:
    y, champ, chall = table(805, 5, 125, 65)  # 0.93 vs 0.81
    d = POLICY.decide(y, champ, chall, N_CLASSES)
    assert d.promote
    assert d.reason.startswith("promote: accuracy 0.93 vs 0.81, p=")
    assert d.mcnemar.one_sided_p < 1e-20
    assert d.challenger_metrics["accuracy"] == pytest.approx(0.93)


def test_identical_challenger_is_never_promoted() -> None:
    permissive = PromotionPolicy(min_samples=1, min_margin=0.0, significance=0.5, max_recall_drop=1)
    y, champ, _ = table(900, 0, 0, 100)
    d = permissive.decide(y, champ, champ.copy(), N_CLASSES)
    assert not d.promote
    assert d.reason == "not significant: p=1 >= 0.5"


def a_a_promotion_rate(policy: PromotionPolicy, trials: int, seed: int) -> float:
    """Two independently noisy classifiers, both 80% accurate, on 300 events each trial."""
    rng = np.random.default_rng(seed)
    n = 300
    promoted = 0
    for _ in range(trials):
        y = rng.integers(0, N_CLASSES, size=n)
        champ = predictions(y, rng.random(n) < 0.8)
        chall = predictions(y, rng.random(n) < 0.8)
        promoted += policy.decide(y, champ, chall, N_CLASSES).promote
    return promoted / trials


def test_a_a_false_promotions_at_most_one_percent() -> None:
    policy = PromotionPolicy(
        min_samples=200, min_margin=0.01, significance=0.01, max_recall_drop=0.2
    )
    assert a_a_promotion_rate(policy, trials=500, seed=42) <= 0.01


def test_a_a_false_promotions_bounded_by_significance_at_defaults() -> None:
    # At significance 0.05 the rate is about 4%: the margin adds little, the test does the work.
    assert a_a_promotion_rate(POLICY, trials=500, seed=42) <= 0.05


class TestJudge:
    """The sequential rule the evaluator applies at every round."""

    POLICY = PromotionPolicy(
        min_samples=60, min_margin=0.01, significance=0.01, max_recall_drop=0.2, max_samples=400
    )

    @staticmethod
    def judged(both: int, b: int, c: int, neither: int, *, final: bool = False) -> object:
        from evaluator.sequential import SequentialTest

        y, champ, chall = table(both, b, c, neither)
        order = np.random.default_rng(0).permutation(len(y))  # as events arrive: mixed
        y, champ, chall = y[order], champ[order], chall[order]
        test = SequentialTest()
        for p_champ, p_chall, label in zip(champ, chall, y, strict=True):
            test.add(int(p_champ.argmax()) == label, int(p_chall.argmax()) == label)
        return TestJudge.POLICY.judge(y, champ, chall, N_CLASSES, test, final=final)

    def test_waits_below_min_samples_even_when_clear(self) -> None:
        assert self.judged(10, 0, 40, 0) is None

    def test_promotes_a_clearly_better_challenger_at_its_first_look(self) -> None:
        d = self.judged(20, 1, 40, 0)
        assert d is not None and d.promote and "always-valid p=" in d.reason  # type: ignore[attr-defined]

    def test_rejects_a_clearly_worse_one_early(self) -> None:
        d = self.judged(30, 40, 1, 0)
        assert d is not None and not d.promote and d.reason.startswith("worse")  # type: ignore[attr-defined]

    def test_an_undecided_trial_waits_then_is_rejected_at_max_samples(self) -> None:
        assert self.judged(100, 10, 12, 0) is None
        d = self.judged(370, 14, 16, 0)
        assert d is not None and not d.promote and "not significant" in d.reason  # type: ignore[attr-defined]

    def test_final_ends_an_undecided_trial(self) -> None:
        d = self.judged(100, 10, 12, 0, final=True)
        assert d is not None and not d.promote  # type: ignore[attr-defined]

    def test_a_broken_champions_favourite_class_is_no_recall_to_lose(self) -> None:
        # The champion calls everything 2 (recall of 2 = 1.0, precision 0.1); the challenger
        # is right on 80 % and misses every 2: that is no collapse of a class the champion
        # knew, and the challenger is promoted.
        y = np.arange(300) % N_CLASSES
        champ = proba_of(np.full(300, 2))
        chall_pred = np.where(np.arange(300) % 5 == 0, (y + 1) % N_CLASSES, y)
        chall_pred[y == 2] = 3
        chall = proba_of(chall_pred)
        from evaluator.sequential import SequentialTest

        test = SequentialTest()
        for label, a, b in zip(y, champ.argmax(1), chall.argmax(1), strict=True):
            test.add(a == label, b == label)
        d = self.POLICY.judge(y, champ, chall, N_CLASSES, test)
        assert d is not None and d.promote, d
