"""The evaluator's Prometheus metrics, on a registry of its own (tests run several
evaluators in one process)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass
class EvaluatorMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.rounds = Counter("arena_evaluator_rounds", "Evaluation rounds run", registry=r)
        self.decisions = Counter(
            "arena_evaluator_decisions",
            "Challenger verdicts, by outcome (promoted, rejected, blocked_by_pin, cancelled)",
            ["outcome"],
            registry=r,
        )
        self.probation_verdicts = Counter(
            "arena_evaluator_probation_verdicts",
            "Probations ended, by outcome (kept, rolled_back, cancelled)",
            ["outcome"],
            registry=r,
        )
        self.probation_open = Gauge(
            "arena_evaluator_probation_open", "1 while a new champion is on probation", registry=r
        )
        self.probation_labels = Gauge(
            "arena_evaluator_probation_labels",
            "Paired labels observed in the open probation",
            registry=r,
        )
        self.champion_version = Gauge(
            "arena_evaluator_champion_version", "The champion's version", registry=r
        )
        self.champion_accuracy = Gauge(
            "arena_evaluator_champion_accuracy",
            "The champion's accuracy on the latest recent labeled events it never trained on",
            registry=r,
        )
        self.champion_samples = Gauge(
            "arena_evaluator_champion_samples",
            "Labeled events behind arena_evaluator_champion_accuracy",
            registry=r,
        )
        self.scheduled_runs = Counter(
            "arena_evaluator_scheduled_runs", "Scheduled evaluate jobs that fired here", registry=r
        )
        self.shadow_agreement = Gauge(
            "arena_evaluator_shadow_agreement",
            "Share of live unlabeled events where the challenger's top class is the champion's",
            registry=r,
        )
        self.trial_events = Gauge(
            "arena_evaluator_trial_events",
            "Fresh labeled events in the trial looked at last",
            registry=r,
        )
        self.trials = Gauge(
            "arena_evaluator_trials",
            "Challengers on trial against the champion (at most ARENA_EVALUATOR_CONCURRENT_TRIALS)",
            registry=r,
        )
