from __future__ import annotations

import numpy as np
import pytest

from arena.join import EventPosition, LabeledExample
from evaluator.shadow import ShadowSample, shadow_metrics
from evaluator.trial import Trial


def one_hot(classes: list[int], confidence: float = 0.9) -> np.ndarray:  # type: ignore[type-arg]
    p = np.full((len(classes), 10), (1 - confidence) / 9, np.float32)
    p[np.arange(len(classes)), classes] = confidence
    return p


def test_shadow_agreement_and_confidence() -> None:
    m = shadow_metrics(one_hot([1, 2, 3, 4]), one_hot([1, 2, 0, 0], 0.6))
    assert m["shadow_agreement"] == 0.5
    assert m["shadow_challenger_confidence_mean"] == pytest.approx(0.6)
    assert m["shadow_champion_confidence_mean"] == pytest.approx(0.9)
    assert shadow_metrics(np.empty((0, 10)), np.empty((0, 10))) == {}


def test_the_shadow_sample_keeps_the_newest_images_until_taken() -> None:
    sample = ShadowSample(3)
    sample.offer(np.arange(5 * 4, dtype=np.float32).reshape(5, 2, 2))
    taken = sample.take()
    assert taken.shape == (3, 2, 2) and taken[0, 0, 0] == 8.0
    assert len(sample.take()) == 0


def test_a_trial_counts_each_event_once() -> None:
    trial = Trial(champion_id=1, challenger_id=2, n_classes=10)
    examples = [
        LabeledExample(f"e{i}", EventPosition("t", 0, i), np.zeros((2, 2)), i % 10)
        for i in range(4)
    ]
    labels = [e.label for e in examples]
    wrong = [(k + 1) % 10 for k in labels]
    trial.add(examples[:2], one_hot(wrong[:2]), one_hot(labels[:2]))
    assert len(trial.unseen(examples)) == 2
    fresh = trial.unseen(examples)
    trial.add(fresh, one_hot(wrong[2:]), one_hot(labels[2:]))
    assert len(trial) == 4 and trial.test.c == 4 and trial.test.b == 0
    assert trial.labels().tolist() == labels
    with pytest.raises(ValueError):
        trial.add(examples[:1], one_hot([1, 2]), one_hot([1]))
