"""``scale_4_scorers_img_s``: four scorer processes against one, on a 3-node Kafka cluster.

The cluster is the stack's own (``KafkaCluster``, as ``arena stack up --brokers 3``), on
ports and a state directory of its own, started fresh for the phase and removed after;
PostgreSQL and MinIO are the shared stack's. Topics have 3 replicas, 2 in sync, so every
batch the scorers commit is written to two nodes at least.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from arena.config import Settings
from arena.stack.kafka import KafkaCluster, local_cluster_settings
from bench.throughput import scorer_processes

NODES = 3
PORT = int(os.environ.get("ARENA_BENCH_CLUSTER_PORT", "24092"))
STATE = Path(os.environ.get("ARENA_BENCH_CLUSTER_STATE", "/var/tmp/arena-bench-cluster"))


def cluster_scale(
    base: Settings, n: int, scorer: dict[str, Any], timeout_s: float, log_dir: Path
) -> dict[str, Any]:
    """1 then 4 scorers through the same backlog size, in one run, on a fresh cluster."""
    settings = local_cluster_settings(base, PORT, STATE, NODES)
    shutil.rmtree(STATE, ignore_errors=True)
    cluster = KafkaCluster(settings.kafka, settings.stack, NODES)
    cluster.install()
    try:
        cluster.start()
        ready_s = cluster.wait_ready(settings.stack.start_timeout_s)
        one = scorer_processes(settings, 1, n, scorer, timeout_s, log_dir, "cluster1")
        four = scorer_processes(settings, 4, n, scorer, timeout_s, log_dir, "cluster4")
    finally:
        cluster.stop()
        shutil.rmtree(STATE, ignore_errors=True)
    return {
        "scale_4_scorers_img_s": four["img_s"],
        "scale_4_scorers_steady_img_s": four["steady_img_s"],
        "scale_1_scorer_cluster_img_s": one["img_s"],
        "scale_1_scorer_cluster_steady_img_s": one["steady_img_s"],
        "scale_4_vs_1": four["img_s"] / one["img_s"],
        "cluster_ready_s": round(ready_s, 1),
        "events": n,
        "rss_per_scorer_mib": four["rss_per_scorer_mib"],
    }
