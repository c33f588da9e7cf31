"""The benchmark harness runs end to end on the real stack (``--smoke``: tiny sizes).

Timings are not asserted: the machine is shared. What is asserted is that every figure the
issue asks for is produced, with a sane type, and that exactly-once held across the swap.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

RATES = [
    "bare_model_img_s",
    "bare_model_onnx_img_s",
    "e2e_img_s",  # the ONNX scorer
    "e2e_tf_img_s",  # the TF scorer, same run
    "peer_quix_onnx_img_s",  # the quix-streams peer, in its own virtualenv
    "e2e_steady_img_s",
    "e2e_png_img_s",
    "naive_img_s",
    "claimcheck_img_s",
    "trainer_samples_s",
    "scale_2_scorers_img_s",
    "scale_4_scorers_img_s",  # on a 3-node cluster started for the phase
]
POSITIVE = [
    *RATES,
    "e2e_ratio",
    "speedup_vs_naive",
    "p50_ms",
    "p99_ms",
    "swap_p99_ratio",
    "promotion_to_serving_s",
    "scorer_rss_mib",
    "scorer_tf_rss_mib",
    "scorer_startup_s",
    "scorer_startup_tf_s",
    "p99_tf_ms",
    "e2e_onnx_vs_tf",
    "arena_vs_peer",
]


@pytest.mark.timeout(920)
def test_smoke_run_writes_every_figure(tmp_path: Path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # 220 s here before ONNX; the first run also builds the peer venv
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads((tmp_path / "results-smoke.json").read_text())
    assert results["conditions"]["errors"] == {}
    for key in POSITIVE:
        value = results[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), key
        assert math.isfinite(value) and value > 0, (key, value)
    assert results["swap_lost"] == 0
    assert results["swap_duplicates"] == 0
    machine = results["conditions"]["machine"]
    assert machine["nproc"] >= 1 and machine["tensorflow"] and machine["kafka_broker"]
    assert "| `e2e_img_s` |" in (tmp_path / "BENCHMARKS-smoke.md").read_text()
    # The headline scorer serves ONNX and never loads TensorFlow: far below the TF one.
    assert results["scorer_rss_mib"] < results["scorer_tf_rss_mib"]
