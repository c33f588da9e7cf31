"""Classification metrics in pure numpy, named the way the score history stores them."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

IntArray = NDArray[np.int64]
LOG_LOSS_EPS = 1e-15  # clip probabilities so one confident mistake is finite, as sklearn does


def classification_metrics(y_true: ArrayLike, proba: ArrayLike, n_classes: int) -> dict[str, float]:
    """Accuracy, log loss, macro F1, per-class recall and precision of predicted probabilities.

    Args:
        y_true: [N] true class indices in ``0..n_classes-1``.
        proba: [N, n_classes] predicted probabilities; the prediction is the argmax.
        n_classes: number of classes the model outputs.

    Returns:
        ``accuracy``, ``log_loss``, ``macro_f1`` (over classes present in the truth or the
        predictions, as sklearn does), ``recall_class_<k>`` for each class present in the
        truth, and ``sample_count``. With no samples, the rates are NaN.
    """
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape != (y.shape[0], n_classes):
        raise ValueError(f"proba shape {p.shape} does not match ({y.shape[0]}, {n_classes})")
    n = y.shape[0]
    if n == 0:
        nan = float("nan")
        return {"accuracy": nan, "log_loss": nan, "macro_f1": nan, "sample_count": 0.0}
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must be within 0..{n_classes - 1}")
    pred = p.argmax(axis=1)
    true_count = np.bincount(y, minlength=n_classes)
    pred_count = np.bincount(pred, minlength=n_classes)
    hits = np.bincount(y[pred == y], minlength=n_classes)

    picked = np.clip(p[np.arange(n), y], LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    metrics = {
        "accuracy": float(hits.sum() / n),
        "log_loss": float(-np.log(picked).mean()),
        "macro_f1": _macro_f1(hits, true_count, pred_count),
    }
    for k in np.flatnonzero(true_count):
        metrics[f"recall_class_{k}"] = float(hits[k] / true_count[k])
    for k in np.flatnonzero(pred_count):
        metrics[f"precision_class_{k}"] = float(hits[k] / pred_count[k])
    metrics["sample_count"] = float(n)
    return metrics


def _macro_f1(hits: IntArray, true_count: IntArray, pred_count: IntArray) -> float:
    present = (true_count + pred_count) > 0
    # F1 = 2TP / (2TP + FP + FN) = 2TP / (true + predicted); never 0/0 for a present class.
    f1 = 2 * hits[present] / (true_count[present] + pred_count[present])
    return float(f1.mean())
