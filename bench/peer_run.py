"""Run the quix-streams + ONNX Runtime peer (``bench/peer/quix_onnx.py``) through the same
backlog as Arena's scorer, and count its predictions the same way.

The peer lives in a virtualenv of its own, built on first use from
``bench/peer/requirements.lock`` (hashed pins, from PyPI) and cached outside the clone
(``ARENA_STACK_CACHE_DIR/peer-venv-<lock hash>``, beside the Kafka jars), so later runs
start at once.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from arena.config import Settings
from arena.events import now_ms
from bench.kit import (
    MeasuredProcess,
    counting,
    drop_topics,
    phase_settings,
    produce_all,
    wait_for,
    while_alive,
)
from bench.throughput import raw_frames

PEER_DIR = Path(__file__).resolve().parent / "peer"
LOCK = PEER_DIR / "requirements.lock"


def peer_python(cache_dir: Path) -> Path:
    """The peer virtualenv's python, created (about a minute, once) if missing."""
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()[:12]
    venv = cache_dir / f"peer-venv-{digest}"
    python = venv / "bin" / "python"
    stamp = venv / ".complete"
    if stamp.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--require-hashes", "-r", str(LOCK)],
        check=True,
        timeout=900,
    )
    stamp.write_text(digest + "\n")
    return python


def quix_peer(
    base: Settings, n: int, onnx_model: bytes, timeout_s: float, log_dir: Path
) -> dict[str, Any]:
    """The peer through a backlog of ``n`` raw frames: from its start to its ``n``-th
    distinct prediction (at-least-once: a repeat is not counted twice)."""
    python = peer_python(base.stack.cache_dir)
    settings = phase_settings(base, "peer")
    run = uuid.uuid4().hex[:6]
    model_path = log_dir / f"peer-{run}.onnx"
    model_path.write_bytes(onnx_model)
    proc: MeasuredProcess | None = None
    try:
        produce_all(settings, raw_frames(n, run))
        with counting(settings) as counter:
            started, started_ms = time.monotonic(), now_ms()
            argv = [
                str(python),
                str(PEER_DIR / "quix_onnx.py"),
                "--broker",
                settings.kafka.bootstrap,
                "--input",
                settings.kafka.image_topic,
                "--output",
                settings.kafka.prediction_topic,
                "--group",
                f"bench-peer-{run}",
                "--model",
                str(model_path),
            ]
            proc = MeasuredProcess(argv, dict(os.environ), log_dir / f"peer-{run}.log")
            wait_for(
                while_alive([proc], lambda: counter.distinct() >= n, log_dir),
                timeout_s,
                f"{n} predictions from the quix-streams peer",
            )
            elapsed = time.monotonic() - started
            seen = counter.seen
        return {
            "peer_img_s": n / elapsed,
            "peer_steady_img_s": n / max((seen.last_ms - seen.first_ms) / 1000, 1e-3),
            "peer_first_prediction_s": round((seen.first_ms - started_ms) / 1000, 3),
            "peer_rss_mib": proc.peak_kib / 1024,
            "events": n,
            "predictions": seen.count,
            "elapsed_s": round(elapsed, 2),
            "peer": "quix-streams, ONNX Runtime per message, at-least-once (its defaults)",
        }
    finally:
        if proc is not None:
            proc.stop()
        drop_topics(settings)
