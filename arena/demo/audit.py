"""Judge the evaluator's promotions with what only the demo knows: each promoted challenger
and the champion it replaced, scored on digits no service ever saw, drawn from the
distribution the stream had when the promotion happened.

A promotion is *false* when the challenger is in truth no better than the champion it
replaced (its accuracy on those digits is not higher). In an A/A run (no drift) this is
the false-promotion rate the sequential test bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from arena.config import Settings
from arena.datasets import apply_drift, load_mnist
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


def audit_promotions(
    settings: Settings, drift: str | None, drift_started: datetime | None
) -> list[PromotionAudit]:
    """Every promotion the evaluator decided, judged on the audit digits.

    ``drift``: the stream's drift (None: none); ``drift_started``: when its first drifted
    event was published; a promotion decided after it is judged on drifted digits.
    """
    data = load_mnist()
    clean = data.x_train[AUDIT_DIGITS]
    labels = data.y_train[AUDIT_DIGITS]
    drifted = apply_drift(drift, np.array(clean)) if drift is not None else None
    engine = make_engine(settings.db)
    try:
        decisions = Decisions(engine).recent(outcome=DecisionOutcome.PROMOTED, limit=10_000)
        registry = Registry(engine)
        with ArtifactStore(settings.s3) as store:
            models = ModelLoader(registry, store, ArtifactSigner(settings.signing.key))
            out = []
            for d in sorted(decisions, key=lambda d: d.id or 0):
                after = (
                    drifted is not None
                    and drift_started is not None
                    and d.decided_at is not None
                    and d.decided_at >= drift_started
                )
                images = to_unit_float(drifted if after and drifted is not None else clean)

                def accuracy(version_id: int, images: NDArray[np.float32] = images) -> float:
                    model = models.model(registry.get_version(version_id))
                    return float((model.predict_proba(images).argmax(axis=1) == labels).mean())

                out.append(
                    PromotionAudit(
                        d.challenger_version,
                        d.champion_version,
                        after,
                        round(accuracy(d.challenger_version), 4),
                        round(accuracy(d.champion_version), 4),
                    )
                )
            return out
    finally:
        engine.dispose()
