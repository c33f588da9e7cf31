"""Judge the loop with what only the demo knows: models scored on digits no service ever saw.

- Each promotion: the promoted challenger and the champion it replaced, on digits of the
  distribution the stream had when the promotion happened. A promotion is *false* when the
  challenger is in truth no better than the champion it replaced (its accuracy on those
  digits is not higher). In an A/A run (no drift) this is the false-promotion rate the
  sequential test bounds.
- The champion serving before a drift, on clean digits, against the champion at the end of
  the run, on drifted ones: how far the model itself recovered, without the sampling noise
  of a window of live events and without the tail of the recovery that such a window holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from arena.config import Settings
from arena.datasets import apply_drift, load_mnist
from arena.errors import ArenaError
from arena.images import to_unit_float
from arena.signing import ArtifactSigner
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.decisions import Decisions
from storage.domain import DecisionOutcome
from storage.model_loader import ModelLoader
from storage.registry import Registry

AUDIT_DIGITS = slice(40_000, 44_000)  # in no stream (demo.stream) and no initial champion


@dataclass(frozen=True, slots=True)
class PromotionAudit:
    challenger: int
    champion: int
    drifted: bool
    challenger_accuracy: float
    champion_accuracy: float

    @property
    def false(self) -> bool:
        return self.challenger_accuracy <= self.champion_accuracy


@dataclass(frozen=True, slots=True)
class RecoveryAudit:
    """Accuracy on the audit digits of the champion serving just before the drift (on clean
    digits) and of the champion at the end of the run (on drifted digits, and on clean ones:
    what it kept of the old distribution)."""

    pre_drift_champion: int
    final_champion: int
    pre_drift_accuracy: float
    recovered_accuracy: float
    final_clean_accuracy: float

    @property
    def gap(self) -> float:
        return round(self.pre_drift_accuracy - self.recovered_accuracy, 4)


Scorer = Callable[[int, NDArray[np.uint8]], float]


@contextmanager
def _scoring(settings: Settings) -> Iterator[tuple[Registry, Scorer]]:
    """The registry, and the accuracy of a registered version on uint8 audit images."""
    labels = load_mnist().y_train[AUDIT_DIGITS]
    engine = make_engine(settings.db)
    try:
        registry = Registry(engine)
        with ArtifactStore(settings.s3) as store:
            models = ModelLoader(registry, store, ArtifactSigner(settings.signing.key))

            def accuracy(version_id: int, images: NDArray[np.uint8]) -> float:
                model = models.model(registry.get_version(version_id))
                predicted = model.predict_proba(to_unit_float(images)).argmax(axis=1)
                return round(float((predicted == labels).mean()), 4)

            yield registry, accuracy
    finally:
        engine.dispose()


def _audit_digits() -> NDArray[np.uint8]:
    """The clean audit digits (a writable copy of the shared, read-only MNIST array)."""
    return np.array(load_mnist().x_train[AUDIT_DIGITS])


def audit_promotions(
    settings: Settings, drift: str | None, drift_started: datetime | None
) -> list[PromotionAudit]:
    """Every promotion the evaluator decided, judged on the audit digits.

    ``drift``: the stream's drift (None: none); ``drift_started``: when its first drifted
    event was published; a promotion decided after it is judged on drifted digits.
    """
    clean = _audit_digits()
    drifted = apply_drift(drift, clean) if drift is not None else None
    with _scoring(settings) as (registry, accuracy):
        decisions = Decisions(registry.engine).recent(
            outcome=DecisionOutcome.PROMOTED, limit=10_000
        )
        out = []
        for d in sorted(decisions, key=lambda d: d.id or 0):
            after = (
                drifted is not None
                and drift_started is not None
                and d.decided_at is not None
                and d.decided_at >= drift_started
            )
            images = drifted if after and drifted is not None else clean
            out.append(
                PromotionAudit(
                    d.challenger_version,
                    d.champion_version,
                    after,
                    accuracy(d.challenger_version, images),
                    accuracy(d.champion_version, images),
                )
            )
        return out


def audit_recovery(settings: Settings, drift: str, pre_drift_champion: int) -> RecoveryAudit:
    """The champion before ``drift`` against the registry's champion now, on the audit digits."""
    clean = _audit_digits()
    drifted = apply_drift(drift, clean)
    with _scoring(settings) as (registry, accuracy):
        final = registry.champion()
        if final is None:
            raise ArenaError("the registry has no champion to audit")
        return RecoveryAudit(
            pre_drift_champion=pre_drift_champion,
            final_champion=final.id,
            pre_drift_accuracy=accuracy(pre_drift_champion, clean),
            recovered_accuracy=accuracy(final.id, drifted),
            final_clean_accuracy=accuracy(final.id, clean),
        )
