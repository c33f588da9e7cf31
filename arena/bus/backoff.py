"""Exponential back-off with jitter, for retrying a batch after a retriable failure."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(slots=True)
class Backoff:
    """Delays that double from ``initial_s`` up to ``max_s``; ``reset()`` after a success.

    Jitter (each delay drawn from its upper half) keeps a group of restarted services from
    retrying in lock-step.
    """

    initial_s: float = 0.1
    max_s: float = 30.0
    failures: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.initial_s * 2.0**self.failures)
        self.failures += 1
        return ceiling * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.failures = 0
