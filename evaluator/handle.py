"""What a caller sees of a running evaluator: its verdicts so far, its metrics, and when it
has started. Light on purpose: ``evaluator.app`` imports it before the heavy modules, so a
restarted evaluator reconciles the control plane first (see ``run_evaluator``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from evaluator.telemetry import EvaluatorMetrics

ACTOR = "evaluator"  # the actor named in the audit log for the evaluator's own changes


@dataclass
class EvaluatorHandle:
    decisions: list[str] = field(default_factory=list)
    promotions: list[int] = field(default_factory=list)
    rollbacks: list[int] = field(default_factory=list)
    blocked: list[int] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    metrics: EvaluatorMetrics = field(default_factory=EvaluatorMetrics)
    metrics_port: int = 0
    schedule_check_s: float = 5.0  # how often the scheduled-job runner checks its lock
