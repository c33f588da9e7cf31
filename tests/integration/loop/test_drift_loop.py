"""The product, end to end on the real stack: a drone stream drifts, Arena retrains,
promotes, hot-swaps both scorers, and recovers — with every event predicted exactly once."""

from __future__ import annotations

import dataclasses
import json
import uuid
from pathlib import Path

from arena.config import Settings
from arena.demo.run import DemoConfig, run_demo
from arena.demo.stream import StreamPlan


def test_drift_is_detected_retrained_promoted_and_recovered(
    settings: Settings, tmp_path: Path
) -> None:
    # The demo's stream (100 photos/s): at 250/s the in-process fleet saturates 2 shared
    # cores and a fine-tune takes about 20 s, so the recovery would hinge on the machine.
    plan = StreamPlan()
    config = dataclasses.replace(
        DemoConfig(), plan=plan, out_dir=tmp_path, database=f"arena_test_{uuid.uuid4().hex[:8]}"
    )

    summary = run_demo(settings, config)

    assert summary["promotions"] >= 1, summary["evaluator_decisions"]
    last_promoted = summary["promoted_versions"][-1]
    assert summary["scorers_serving"] == {"scorer-1": last_promoted, "scorer-2": last_promoted}
    assert summary["post_drift_min_accuracy"] < summary["pre_drift_accuracy"] - 0.3
    assert summary["recovered_accuracy"] >= summary["pre_drift_accuracy"] - 0.03
    assert summary["lost_predictions"] == 0
    assert summary["duplicate_predictions"] == 0
    assert summary["labels_until_recovery"] is not None
    # The drift was detected (from the pixels, before its labels) and fine-tuned on soon.
    assert plan.drift_at <= summary["drift_detected_at_event"] < plan.drift_at + 1_000
    assert "adwin:input_mean" in summary["drift_detectors"]
    assert summary["first_finetune_after_drift_labels"] is not None
    assert summary["false_promotions"] == 0, summary["promotion_audit"]
    # The models themselves, on digits no service saw: the champion at the end is the last
    # promoted one, and it reads the drifted digits about as well as the first read clean ones.
    audit = summary["recovery_audit"]
    assert audit["pre_drift_champion"] == summary["initial_champion"]
    assert audit["final_champion"] == last_promoted
    assert summary["audited_recovered_accuracy"] >= summary["audited_pre_drift_accuracy"] - 0.03
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["events"] == summary["events"] == 20_000
    assert (tmp_path / "accuracy.png").stat().st_size > 10_000
