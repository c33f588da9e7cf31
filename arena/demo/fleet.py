"""Run the services of one Arena deployment as threads of this process (demo and tests).

Each service gets its own StopFlag and Settings, exactly as it would as `arena scorer` etc.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arena.bus.stop import StopFlag
from arena.config import Settings, with_overrides
from evaluator.app import run_evaluator
from evaluator.handle import EvaluatorHandle
from scorer.app import ScorerHandle, run_scorer
from trainer.app import TrainerHandle, run_trainer

log = logging.getLogger(__name__)


@dataclass
class Fleet:
    settings: Settings
    scorers: list[ScorerHandle] = field(default_factory=list)
    trainer: TrainerHandle = field(default_factory=TrainerHandle)
    evaluator: EvaluatorHandle = field(default_factory=EvaluatorHandle)
    errors: list[BaseException] = field(default_factory=list)
    _threads: list[tuple[threading.Thread, StopFlag]] = field(default_factory=list)

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        stop = StopFlag()

        def body() -> None:
            try:
                target(*args, stop)
            except BaseException as exc:
                log.exception("%s crashed", name)
                self.errors.append(exc)

        thread = threading.Thread(target=body, name=name, daemon=True)
        thread.start()
        self._threads.append((thread, stop))

    def start(self, n_scorers: int, *, trainer: bool = True, evaluator: bool = True) -> None:
        for i in range(n_scorers):
            s = with_overrides(self.settings, scorer={"scorer_id": f"scorer-{i + 1}"})
            handle = ScorerHandle(f"scorer-{i + 1}")
            self.scorers.append(handle)
            self._spawn(handle.scorer_id, lambda st, stop, h=handle: run_scorer(st, stop, h), s)
        if trainer:
            self._spawn(
                "trainer", lambda st, stop: run_trainer(st, stop, self.trainer), self.settings
            )
        if evaluator:
            self._spawn(
                "evaluator", lambda st, stop: run_evaluator(st, stop, self.evaluator), self.settings
            )

    def stop_evaluator(self, timeout_s: float = 60.0) -> None:
        """Stop only the evaluator (no more promotions), e.g. to let the scorers converge."""
        for thread, stop in self._threads:
            if thread.name == "evaluator":
                stop.set()
                thread.join(timeout_s)

    def stop(self, timeout_s: float = 60.0) -> None:
        for _, stop in self._threads:
            stop.set()
        for thread, _ in self._threads:
            thread.join(timeout_s)
            if thread.is_alive():
                log.error("%s did not stop within %.0f s", thread.name, timeout_s)
