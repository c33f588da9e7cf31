"""make learn-bench's figures: what counts as within 2 points, and the table that says so."""

from __future__ import annotations

from typing import Any

from bench.learning import aggregate, markdown


def run(
    drift: str, pre: float, recovered: float, audited: tuple[float, float] | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "drift": drift,
        "seed": 1,
        "labels_until_recovery": 900 if pre - recovered <= 0.03 else None,
        "post_drift_min_accuracy": 0.1,
        "pre_drift_accuracy": pre,
        "recovered_accuracy": recovered,
        "promotions": 2,
        "false_promotions": 0,
        "challenger_decisions": 6,
        "drift_detected_at_event": 1_200,
        "first_finetune_after_drift_labels": 330,
        "lost_predictions": 0,
        "duplicate_predictions": 0,
    }
    if audited is not None:
        before, after = audited
        row |= {
            "audited_pre_drift_accuracy": before,
            "audited_recovered_accuracy": after,
            "audited_recovered_gap": round(before - after, 4),
            "audited_final_clean_accuracy": 0.9,
        }
    return row


def test_a_gap_of_exactly_two_points_counts_as_within_despite_float_rounding() -> None:
    # 0.95 - 0.93 is 0.020000000000000018 in floating point.
    runs = [
        run("invert", 0.95, 0.93, (0.95, 0.93)),
        run("noise", 0.94, 0.91, (0.94, 0.915)),
        run("blur", 0.93, 0.85, None),  # an older run without the audit
        run("none", 0.97, 0.97, None),
    ]

    a = aggregate(runs)

    assert a["runs"] == 3
    assert a["within_2_points"] == 1
    assert a["audited_runs"] == 2
    assert a["audited_within_2_points"] == 1
    assert a["worst_audited_gap"] == 0.025
    assert a["worst_recovered_gap"] == 0.08


def test_the_table_shows_each_runs_audit_or_a_dash() -> None:
    runs = [run("invert", 0.95, 0.94, (0.951, 0.948)), run("blur", 0.93, 0.85, None)]
    result = {
        "finished_at": "2026-12-07 06:00 UTC",
        "wall_time_s": 1_700.0,
        "machine": {"nproc": 2, "cpu_model": "test", "memory_gib": 24},
        "plan": {
            "events": 4_500,
            "rate_per_s": 60.0,
            "drift_at": 1_000,
            "aa_events": 45_000,
            "aa_rate_per_s": 150.0,
        },
        "runs": runs,
        "aggregate": aggregate(runs),
    }

    table = markdown(result)

    assert "| invert | 1 | 900 |" in table
    assert "| 0.951, 0.948 (0.9) |" in table
    assert "| blur | 1 | not in the run | 0.1 | 0.93 | 0.85 | - |" in table
    assert "1 of 2 runs end within 2 points of it" in table
    assert "1 of 1 runs end within 2 points; the worst is 0.003 below" in table
