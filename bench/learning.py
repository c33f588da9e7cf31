"""``python -m bench.learning [--smoke]``: how fast Arena recovers from drift, and how rarely
it promotes a challenger that is not better, measured on the running loop.

Every drift kind of ``arena demo`` (invert, rotate, blur, noise, new-camera) x 3 seeds, each
a demo run (the real stack; scorers, trainer and evaluator as in the demo), then an A/A run:
no drift, a strong initial champion and a fast fine-tune cadence, so there are many
challenger decisions, and the promotions among them are audited against digits no service
saw (``arena.demo.audit``). Writes ``bench/learning.json`` and the table in
``docs/LEARNING.md``; ``--smoke`` (part of ``make test``) runs one tiny drift run and a tiny
A/A run into ``out/learn-smoke/`` and only checks that the harness works.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from arena.config import Settings
from arena.datasets import DEMO_DRIFTS
from arena.demo.audit import AUDIT_DIGITS
from arena.demo.run import DemoConfig, run_demo
from arena.demo.stream import NO_DRIFT, StreamPlan
from bench.isolated import run_isolated
from bench.machine import describe

log = logging.getLogger("bench.learning")
ROOT = Path(__file__).resolve().parent.parent
AUDIT_SIZE = f"{AUDIT_DIGITS.stop - AUDIT_DIGITS.start:,}"
TARGET_GAP = 0.02  # issue 11: recovered accuracy within 2 points of pre-drift
DOC_BEGIN = "<!-- learn-bench:begin -->"
DOC_END = "<!-- learn-bench:end -->"
FIGURES = (
    "labels_until_recovery",
    "post_drift_min_accuracy",
    "pre_drift_accuracy",
    "recovered_accuracy",
    "audited_pre_drift_accuracy",
    "audited_recovered_accuracy",
    "audited_recovered_gap",
    "audited_final_clean_accuracy",
    "promotions",
    "false_promotions",
    "challenger_decisions",
    "drift_detected_at_event",
    "first_finetune_after_drift_labels",
    "false_drift_alarms",
    "lost_predictions",
    "duplicate_predictions",
    "wall_time_s",
)


@dataclasses.dataclass(frozen=True)
class Plan:
    drifts: tuple[str, ...] = DEMO_DRIFTS
    seeds: tuple[int, ...] = (1, 2, 3)
    events: int = 4_500
    drift_at: int = 1_000
    rate_per_s: float = 60.0
    aa_events: int = 45_000
    # 150/s, not 300: at 300/s the fleet saturates both cores and fine-tunes slow down, so
    # the earlier runs gave fewer decisions per minute (13 at 150/s in 133 s; 9 at 300/s in
    # 150 s). The A/A run needs many decisions, not a high rate.
    aa_rate_per_s: float = 150.0
    aa_initial_samples: int = 20_000
    aa_evaluator: dict[str, Any] = dataclasses.field(default_factory=dict)
    out: Path = ROOT / "bench" / "learning.json"
    doc: Path | None = ROOT / "docs" / "LEARNING.md"
    runs_dir: Path = ROOT / "out" / "learn"
    await_fine_tune_s: float = 0.0  # see DemoConfig


SMOKE = Plan(
    drifts=("invert",),
    seeds=(1,),
    events=3_000,
    drift_at=600,
    rate_per_s=150.0,
    aa_events=9_000,
    aa_rate_per_s=300.0,
    aa_initial_samples=3_000,
    # Short trials, so a 20 s A/A stream decides some: the smoke checks the harness only.
    aa_evaluator={"supersede_after": 60, "max_samples": 300},
    out=ROOT / "out" / "learn-smoke" / "learning.json",
    doc=None,
    runs_dir=ROOT / "out" / "learn-smoke",
    # The smoke's stream lasts 20 s: on slow shared cores the first post-drift fine-tune can
    # finish after it ends (CI once drew that). The check is that one happens at all.
    await_fine_tune_s=120.0,
)

# The A/A run's trainer: a challenger every 100 labels, one quick epoch each, so a short
# stream gives many decisions (each one a promotion or a rejection).
AA_TUNING: dict[str, dict[str, Any]] = {
    # No ONNX export: the A/A run judges promotion decisions, not serving, and the export
    # with its parity check costs each challenger a second or two on busy cores.
    "trainer": {
        "finetune_every_labels": 100,
        "epochs": 1,
        "window_size": 1_000,
        "export_onnx": False,
    },
}


def run_one(settings: Settings, plan: Plan, drift: str, seed: int) -> dict[str, Any]:
    aa = drift == NO_DRIFT
    stream = StreamPlan(
        events=plan.aa_events if aa else plan.events,
        drift_at=plan.aa_events if aa else plan.drift_at,
        drift=drift,
        seed=seed,
        rate_per_s=plan.aa_rate_per_s if aa else plan.rate_per_s,
    )
    config = DemoConfig(
        plan=stream,
        out_dir=plan.runs_dir / f"{drift}-{seed}",
        database="arena_learn",
        initial_samples=plan.aa_initial_samples if aa else DemoConfig().initial_samples,
        tuning=AA_TUNING | {"evaluator": plan.aa_evaluator} if aa else {},
        await_fine_tune_s=0.0 if aa else plan.await_fine_tune_s,
    )
    summary = run_demo(settings, config)
    row = {"drift": drift, "seed": seed, "events": stream.events, "rate_per_s": stream.rate_per_s}
    row |= {k: summary.get(k) for k in FIGURES}
    row["promotion_audit"] = summary.get("promotion_audit", [])
    return row


def deadline_s(plan: Plan, drift: str) -> float:
    """How long one run may take before its process is killed and the run tried again:
    its stream, the set-up (an initial champion trained, the fleet started) and the wait
    for a fine-tune, with room for a slow machine."""
    aa = drift == NO_DRIFT
    stream_s = (plan.aa_events / plan.aa_rate_per_s) if aa else plan.events / plan.rate_per_s
    return 2 * stream_s + plan.await_fine_tune_s + 300.0


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    drifted = [r for r in runs if r["drift"] != NO_DRIFT]
    aa = [r for r in runs if r["drift"] == NO_DRIFT]
    labels = [r["labels_until_recovery"] for r in drifted]
    recovered = [r for r in labels if r is not None]
    gaps = [r["pre_drift_accuracy"] - r["recovered_accuracy"] for r in drifted]
    audited = [
        r["audited_recovered_gap"] for r in drifted if r.get("audited_recovered_gap") is not None
    ]
    decisions = sum(r["challenger_decisions"] for r in aa)
    false = sum(r["false_promotions"] for r in aa)
    return {
        "runs": len(drifted),
        "recovered_runs": len(recovered),
        "labels_until_recovery_median": statistics.median(recovered) if recovered else None,
        "labels_until_recovery_max": max(recovered) if recovered else None,
        "worst_recovered_gap": round(max(gaps), 4) if gaps else None,
        "within_2_points": sum(map(_within_target, gaps)),
        "audited_runs": len(audited),
        "audited_within_2_points": sum(map(_within_target, audited)),
        "worst_audited_gap": round(max(audited), 4) if audited else None,
        "aa_decisions": decisions,
        "aa_promotions": sum(r["promotions"] for r in aa),
        "aa_false_promotions": false,
        "aa_false_promotion_rate": round(false / decisions, 4) if decisions else None,
        "false_promotions_in_drift_runs": sum(r["false_promotions"] for r in drifted),
        "lost_predictions": sum(r["lost_predictions"] for r in runs),
        "duplicate_predictions": sum(r["duplicate_predictions"] for r in runs),
    }


def _within_target(gap: float) -> bool:
    """At most ``TARGET_GAP`` below pre-drift, to the 4 decimals the figures carry (0.95 -
    0.93 is 0.020000000000000018 in floating point)."""
    return round(gap, 4) <= TARGET_GAP


def markdown(result: dict[str, Any]) -> str:
    a, m, p = result["aggregate"], result["machine"], result["plan"]
    lines = [
        DOC_BEGIN,
        f"Measured {result.get('drift_runs_finished_at', result['finished_at'])} with"
        f" `make learn-bench` ({result.get('drift_runs_wall_time_s', result['wall_time_s']):.0f} s"
        f" in all{_aa_rerun(result)}) on {m['nproc']} cores ({m['cpu_model']}),"
        f" {m['memory_gib']} GiB, shared. Each"
        f" drift run streams {p['events']} photos at {p['rate_per_s']:g}/s, the drift at photo"
        f" {p['drift_at']}; the A/A run streams {p['aa_events']} at {p['aa_rate_per_s']:g}/s.",
        "",
        "| drift | seed | labels until recovery | post-drift min | pre-drift | recovered "
        "| audited: before, after (clean) | promotions | false | detected at event "
        "| first fine-tune (labels) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        if r["drift"] == NO_DRIFT:
            continue
        until = r["labels_until_recovery"]
        lines.append(
            f"| {r['drift']} | {r['seed']} | {'not in the run' if until is None else until} "
            f"| {r['post_drift_min_accuracy']} | {r['pre_drift_accuracy']} "
            f"| {r['recovered_accuracy']} | {_audited(r)} "
            f"| {r['promotions']} | {r['false_promotions']} "
            f"| {r['drift_detected_at_event']} | {r['first_finetune_after_drift_labels']} |"
        )
    lines += [
        "",
        f"{a['recovered_runs']} of {a['runs']} runs were back within 3 points before their "
        f"stream ended; over those, labels until recovery: median "
        f"**{a['labels_until_recovery_median']}**, max **{a['labels_until_recovery_max']}**. "
        f"The worst recovered accuracy (last 2,000 events) is {a['worst_recovered_gap']} below "
        f"its run's pre-drift accuracy; {a['within_2_points']} of {a['runs']} runs end within"
        f" 2 points of it.",
        "",
        f"Audited (the champion before the drift on {AUDIT_SIZE} clean digits no service saw,"
        f" the champion at the end on the same digits drifted): {a['audited_within_2_points']}"
        f" of {a['audited_runs']} runs end within 2 points; the worst is"
        f" {a['worst_audited_gap']} below.",
        "",
        f"A/A (no drift): **{a['aa_false_promotions']} false promotions in "
        f"{a['aa_decisions']} challenger decisions** ({_count(a['aa_promotions'], 'promotion')}); "
        f"lost predictions {a['lost_predictions']}, duplicated {a['duplicate_predictions']} "
        f"over every run.",
        DOC_END,
    ]
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _audited(r: dict[str, Any]) -> str:
    if r.get("audited_recovered_accuracy") is None:
        return "-"
    return (
        f"{r['audited_pre_drift_accuracy']}, {r['audited_recovered_accuracy']}"
        f" ({r['audited_final_clean_accuracy']})"
    )


def _aa_rerun(result: dict[str, Any]) -> str:
    if "drift_runs_finished_at" not in result:
        return ""
    return f"; the A/A run again at {result['finished_at']}, {result['wall_time_s']:.0f} s"


def write_doc(doc: Path, table: str) -> None:
    text = doc.read_text()
    if DOC_BEGIN not in text or DOC_END not in text:
        raise SystemExit(f"{doc} has no {DOC_BEGIN} ... {DOC_END} section to fill")
    head, rest = text.split(DOC_BEGIN, 1)
    _, tail = rest.split(DOC_END, 1)
    doc.write_text(head + table + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one tiny run, checks only")
    parser.add_argument(
        "--only-aa",
        action="store_true",
        help="re-run only the A/A run; the drift runs stay those of the existing JSON",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    plan = SMOKE if args.smoke else Plan()
    settings = Settings()
    started = time.monotonic()
    runs = []
    previous: dict[str, Any] = {}
    if args.only_aa:
        previous = json.loads(plan.out.read_text())
        runs = [r for r in previous["runs"] if r["drift"] != NO_DRIFT]
    for drift in (NO_DRIFT,) if args.only_aa else (*plan.drifts, NO_DRIFT):
        for seed in plan.seeds if drift != NO_DRIFT else plan.seeds[:1]:
            log.warning("learn-bench: %s, seed %d", drift, seed)
            runs.append(
                run_isolated(run_one, (settings, plan, drift, seed), deadline_s(plan, drift), drift)
            )
    result = {
        "finished_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": describe(settings.stack.kafka_version),
        "wall_time_s": round(time.monotonic() - started, 1),
        "plan": {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(plan).items()
        },
        "runs": runs,
        "aggregate": aggregate(runs),
    }
    if args.only_aa:  # the drift runs are the earlier run's: say so, keep its times
        result["drift_runs_finished_at"] = previous["finished_at"]
        result["drift_runs_wall_time_s"] = previous["wall_time_s"]
    plan.out.parent.mkdir(parents=True, exist_ok=True)
    plan.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["aggregate"], indent=2))
    if plan.doc is not None:
        write_doc(plan.doc, markdown(result))
    if args.smoke:
        return smoke_failures(runs)
    return 0


def smoke_failures(runs: list[dict[str, Any]]) -> int:
    """The harness works: nothing lost or duplicated, the drift detected and fine-tuned on,
    and challengers decided in the A/A run. Not a measurement."""
    problems = []
    for r in runs:
        if r["lost_predictions"] or r["duplicate_predictions"]:
            problems.append(f"{r['drift']}: lost or duplicated predictions")
        if r["drift"] == NO_DRIFT and not r["challenger_decisions"]:
            problems.append("A/A: no challenger decision")
        if r["drift"] != NO_DRIFT and r["first_finetune_after_drift_labels"] is None:
            problems.append(f"{r['drift']}: no fine-tune after the drift")
        if r["drift"] != NO_DRIFT and r["drift_detected_at_event"] is None:
            problems.append(f"{r['drift']}: the drift was not detected")
    for p in problems:
        print(f"learn-bench smoke: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
