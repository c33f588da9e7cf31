"""results.json and docs/BENCHMARKS.md from one run's figures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

# (key, comparison, threshold, what it means)
TARGETS: list[tuple[str, str, float, str]] = [
    ("e2e_ratio", ">=", 0.5, "end to end reaches half the bare model's rate"),
    ("speedup_vs_naive", ">=", 100, "100x the one-message predict loop"),
    ("p99_ms", "<=", 20, "p99 event-to-prediction at 2,000 events/s (ONNX scorer)"),
    ("e2e_onnx_vs_tf", ">=", 1.3, "ONNX scorer end to end / TF scorer, same run"),
    ("arena_vs_peer", ">=", 2.5, "Arena end to end / a quix-streams + ONNX Runtime app"),
    ("swap_lost", "<=", 0, "no event lost across a promotion"),
    ("swap_duplicates", "<=", 0, "no event predicted twice across a promotion"),
    ("swap_p99_ratio", "<=", 2, "p99 around the swap / steady p99"),
    ("promotion_to_serving_s", "<=", 0.5, "ModelEvent published -> first new-version prediction"),
    ("claimcheck_img_s", ">=", 3000, "claim-check (MinIO references) end to end"),
    ("scorer_rss_mib", "<=", 300, "peak resident memory of one ONNX scorer process"),
    ("scorer_startup_s", "<=", 1, "ONNX scorer: process start -> first prediction, backlog"),
]

ANCHORS = [
    "Crayfish (EDBT 2024): embedded models in Kafka Streams / Flink, two tasks: "
    "~1,900-3,200 records/s",
    "Crayfish: RPC to TF Serving: ~900-1,100 records/s",
    "Crayfish: TF Serving model swap: p999 ~4x for ~10 s",
]


def verdict(value: Any, op: str, threshold: float) -> tuple[str, str]:
    """("pass"/"FAIL"/"n/a", how far off)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a", ""
    ok = value >= threshold if op == ">=" else value <= threshold
    if ok:
        return "pass", ""
    if threshold == 0:
        return "FAIL", f"{value} instead of 0"
    factor = threshold / value if op == ">=" else value / threshold
    return "FAIL", f"off by {factor:.2f}x"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")


PUBLISHED_EMBEDDED = "Crayfish embedded (Kafka Streams/Flink, 2 tasks) 1,900-3,200/s"
PUBLISHED_RPC = "TF Serving over RPC 900-1,100/s"


def anchor_of(key: str, r: dict[str, Any]) -> str:
    """What a figure should be read against: the ceiling, the naive baseline, published."""
    ceiling = f"ceiling {_fmt(r.get('bare_model_onnx_img_s'))}/s"
    naive = f"naive {_fmt(r.get('naive_img_s'))}/s"
    throughput = f"{ceiling}; {naive}; {PUBLISHED_EMBEDDED}; {PUBLISHED_RPC}"
    anchors = {
        "bare_model_img_s": "TF's ceiling: the compiled tf.function on in-memory batches of 256",
        "bare_model_onnx_img_s": "ONNX Runtime's ceiling: the session on in-memory batches of 256",
        "e2e_tf_img_s": "the same backlog served by the TF scorer (ARENA_SCORER_RUNTIME=native)",
        "e2e_onnx_vs_tf": "target >= 1.3",
        "peer_quix_onnx_img_s": "quix-streams calling the same ONNX model per message, same "
        "backlog (bench/peer/quix_onnx.py)",
        "arena_vs_peer": "e2e_img_s / peer_quix_onnx_img_s; target >= 2.5",
        "p99_tf_ms": "the TF scorer at the same rate and batch timeout",
        "scorer_tf_rss_mib": "one TF scorer process (20,000-frame backlog)",
        "scorer_startup_s": "target <= 1 s; a naive quix-streams + ONNX Runtime app: 0.8 s",
        "scorer_startup_tf_s": "the TF scorer, same backlog",
        "e2e_img_s": throughput,
        "e2e_steady_img_s": throughput,
        "e2e_png_img_s": throughput,
        "scale_2_scorers_img_s": throughput,
        "scale_4_scorers_img_s": "4 scorers on a 3-node cluster (3 replicas, 2 in sync), "
        f"against 1 there in the same run: {_fmt(r.get('scale_1_scorer_cluster_img_s'))}/s",
        "scale_1_scorer_cluster_img_s": "1 scorer on that cluster; against e2e_img_s: what "
        "replication costs here",
        "claimcheck_img_s": f"packed claim checks (1,024 images per object); {throughput}; "
        "target 3,000/s",
        "claimcheck_per_object_img_s": "one MinIO GET per image: the layout packing replaces",
        "e2e_ratio": "e2e_img_s / bare_model_onnx_img_s; target >= 0.5 of the ceiling",
        "naive_img_s": "the event-driven-model-serving baseline (poll 1, predict, produce 1)",
        "speedup_vs_naive": "target >= 100",
        "p50_ms": "at 2,000 events/s offered",
        "p99_ms": "target <= 20 ms at 2,000 events/s",
        "swap_p99_ratio": "TF Serving swap: p999 x4 for ~10 s; target <= 2",
        "promotion_to_serving_s": "target <= 0.5 s",
        "swap_lost": "target 0",
        "swap_duplicates": "target 0",
        "scorer_rss_mib": "target <= 300 MiB (the ONNX scorer; TF: scorer_tf_rss_mib)",
        "trainer_samples_s": "fine-tuning samples x epochs per second",
    }
    return anchors.get(key, "")


def write_markdown(results: dict[str, Any], path: Path, notes: list[str]) -> None:
    cond = results["conditions"]
    machine = cond["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (`python -m bench.run`; `--smoke` for a quick check that "
        "writes `bench/results-smoke.json` instead). Every figure comes from ONE run, written "
        "to `bench/results.json`; ratios are taken within that run. The machine is shared and "
        "noisy: treat single figures as +-20 %.",
        "",
        "## Machine and versions",
        "",
        f"- date (UTC): {machine['date_utc']}",
        f"- CPU: {machine['cpu_model']}, nproc {machine['nproc']}, "
        f"memory {machine['memory_gib']} GiB",
        f"- Python {machine['python']}, TensorFlow {machine['tensorflow']}, Keras "
        f"{machine['keras']}, numpy {machine['numpy']}",
        f"- confluent-kafka {machine['confluent_kafka']} (librdkafka {machine['librdkafka']}), "
        f"Kafka broker {machine['kafka_broker']} (KRaft, single node, on the same machine as "
        "PostgreSQL, MinIO and the benchmark)",
        "",
        "## Figures",
        "",
        "| figure | value | beside its anchor |",
        "|---|---|---|",
    ]
    for key in sorted(k for k in results if k != "conditions"):
        lines.append(f"| `{key}` | {_fmt(results[key])} | {anchor_of(key, results)} |")
    lines += ["", "## Targets", "", "| target | measured | wanted | verdict |", "|---|---|---|---|"]
    for key, op, threshold, what in TARGETS:
        value = results.get(key)
        status, off = verdict(value, op, threshold)
        lines.append(f"| `{key}`: {what} | {_fmt(value)} | {op} {threshold:g} | {status} {off} |")
    lines += [
        "",
        "## Conditions",
        "",
        "```json",
        json.dumps(
            {k: v for k, v in cond.items() if k != "machine"}, indent=2, sort_keys=True, default=str
        ),
        "```",
        "",
        "## Anchors (published figures, other hardware)",
        "",
    ]
    lines += [f"- {a}" for a in ANCHORS]
    if notes:
        lines += ["", "## Analysis", "", *notes]
    path.write_text("\n".join(lines) + "\n")
