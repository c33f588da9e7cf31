from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.metrics import accuracy_score, f1_score, log_loss, recall_score

from evaluator.classification import LOG_LOSS_EPS, classification_metrics


def softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    out: NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_matches_sklearn_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_classes, n = 10, 500
    y = rng.integers(0, n_classes - 1, size=n)  # class 9 never occurs in the truth
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), y] += rng.uniform(0, 3)
    proba = softmax(logits)
    pred = proba.argmax(axis=1)

    m = classification_metrics(y, proba, n_classes)

    assert m["sample_count"] == n
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["log_loss"] == pytest.approx(log_loss(y, proba, labels=list(range(n_classes))))
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))
    recalls = recall_score(y, pred, average=None, labels=list(range(n_classes - 1)))
    for k in range(n_classes - 1):
        assert m[f"recall_class_{k}"] == pytest.approx(recalls[k])
    assert "recall_class_9" not in m


def test_log_loss_is_clipped_for_a_confident_mistake() -> None:
    proba = np.array([[1.0, 0.0], [0.0, 1.0]])
    m = classification_metrics(np.array([1, 1]), proba, 2)
    assert m["log_loss"] == pytest.approx(-math.log(LOG_LOSS_EPS) / 2)
    assert m["accuracy"] == 0.5
    assert m["recall_class_1"] == 0.5
    assert "recall_class_0" not in m


def test_empty_input_has_nan_rates() -> None:
    m = classification_metrics(np.array([], dtype=int), np.empty((0, 3)), 3)
    assert m["sample_count"] == 0
    assert math.isnan(m["accuracy"]) and math.isnan(m["log_loss"])


def test_rejects_mismatched_shapes_and_labels() -> None:
    with pytest.raises(ValueError):
        classification_metrics(np.array([0, 1]), np.ones((2, 3)) / 3, 4)
    with pytest.raises(ValueError):
        classification_metrics(np.array([0, 3]), np.ones((2, 3)) / 3, 3)
