"""Turn what was observed into the demo's figures, ``summary.json`` and the accuracy plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from arena.demo.collect import Observed, duplicates
from arena.demo.stream import NO_DRIFT, GroundTruth, StreamPlan

RECOVERY_TOLERANCE = 0.03
RECOVERY_STRIDE = 50  # events between two looks at the running window's accuracy


def windowed(correct: npt.NDArray[Any], window: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Accuracy of consecutive windows of ``window`` events: (window end index, accuracy)."""
    ends = np.arange(window, len(correct) + 1, window)
    return ends, np.array([correct[e - window : e].mean() for e in ends])


def summarize(
    plan: StreamPlan,
    truth: GroundTruth,
    observed: Observed,
    promotions: list[int],
    rollbacks: list[int],
    window: int,
    wall_s: float,
    detected_at: Sequence[float] = (),
    post_drift_fine_tunes_at: Sequence[float] = (),
) -> dict[str, Any]:
    """The demo's figures. ``detected_at``: when drift alarms fired; ``post_drift_fine_tunes_at``:
    when challengers trained on post-drift examples were registered (``time.time()``)."""
    n = len(truth.event_ids)
    predicted = np.array([observed.first.get(eid, (-1, -1))[1] for eid in truth.event_ids])
    versions = np.array([observed.first.get(eid, (-1, -1))[0] for eid in truth.event_ids])
    has = predicted >= 0
    correct = (predicted == truth.labels) & has
    ends, acc = windowed(correct, window)
    drift_at = plan.drift_at if plan.drift != NO_DRIFT else n
    steady = slice(max(0, drift_at - 4 * window), drift_at)
    pre = float(correct[steady].mean())
    post_mask = ends > drift_at + window  # windows wholly after the drift
    post_min = float(acc[post_mask].min()) if post_mask.any() else None
    recovered = float(correct[-4 * window :].mean())
    labels_until = None
    # The accuracy of the last ``window`` events, looked at every RECOVERY_STRIDE events
    # from the first window wholly after the drift: the first look back within tolerance.
    if drift_at < n:
        running = np.concatenate([[0], np.cumsum(correct)])
        for end in range(drift_at + window, n + 1, RECOVERY_STRIDE):
            if (running[end] - running[end - window]) / window >= pre - RECOVERY_TOLERANCE:
                labels_until = truth.labels_sent_at.get(end - 1)
                break
    swaps = {int(v): int(np.argmax(versions == v)) for v in np.unique(versions[has])}
    drift_time = (
        truth.published_at[plan.drift_at]
        if plan.drift != NO_DRIFT and plan.drift_at < len(truth.published_at)
        else None
    )
    alarms = [truth.event_at(t) for t in detected_at]
    true_alarms = [
        i for t, i in zip(detected_at, alarms, strict=True) if drift_time and t >= drift_time
    ]
    fine_tunes = [t for t in post_drift_fine_tunes_at if drift_time and t >= drift_time]
    return {
        "events": n,
        "promotions": len(promotions),
        "promoted_versions": promotions,
        "rollbacks": len(rollbacks),
        "drift": plan.drift,
        "drift_at_event": plan.drift_at,
        "pre_drift_accuracy": round(pre, 4),
        "post_drift_min_accuracy": None if post_min is None else round(post_min, 4),
        "recovered_accuracy": round(recovered, 4),
        "recovered_within_3_points": recovered >= pre - RECOVERY_TOLERANCE,
        "lost_predictions": int((~has).sum()),
        "duplicate_predictions": duplicates(observed.counts),
        "labels_until_recovery": labels_until,
        "drift_detected_at_event": min(true_alarms) if true_alarms else None,
        "drift_alarms": len(alarms),
        "false_drift_alarms": len(alarms) - len(true_alarms),
        "first_finetune_after_drift_labels": truth.labels_at(min(fine_tunes))
        if fine_tunes
        else None,
        "first_event_served_by_version": swaps,
        "latency_ms_p50": round(float(np.percentile(observed.latencies_ms, 50)), 1)
        if observed.latencies_ms
        else None,
        "latency_ms_p99": round(float(np.percentile(observed.latencies_ms, 99)), 1)
        if observed.latencies_ms
        else None,
        "window_events": window,
        "wall_time_s": round(wall_s, 1),
        "_windows": {"end": ends.tolist(), "accuracy": [round(float(a), 4) for a in acc]},
    }


def write(summary: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_path = out_dir / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    plot_path = out_dir / "accuracy.png"
    plot(summary, plot_path)
    return summary_path, plot_path


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    windows = summary["_windows"]
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    ax.plot(
        windows["end"], windows["accuracy"], marker="o", markersize=3, label="windowed accuracy"
    )
    ax.axvline(
        summary["drift_at_event"],
        color="crimson",
        linestyle="--",
        label=f"camera drift ({summary['drift']})",
    )
    for i, (version, first) in enumerate(sorted(summary["first_event_served_by_version"].items())):
        if i == 0:
            continue  # the initial champion
        ax.axvline(
            first,
            color="seagreen",
            alpha=0.6,
            linestyle=":",
            label="promotion served" if i == 1 else None,
        )
        ax.annotate(f"v{version}", (first, 0.05), rotation=90, fontsize=8, color="seagreen")
    ax.axhline(summary["pre_drift_accuracy"], color="grey", alpha=0.4)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("event (stream order)")
    ax.set_ylabel(f"accuracy per {summary['window_events']} events")
    ax.set_title("Arena drift demo: champion accuracy on a live drone stream")
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
