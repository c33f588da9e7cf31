"""Plain domain objects the repositories return; no ORM rows leak out of ``storage``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from arena.events import ModelEventKind


class VersionStatus(StrEnum):
    CANDIDATE = "candidate"  # registered challenger, not (yet) promoted
    CHAMPION = "champion"  # the version the evaluator considers best; at most one
    RETIRED = "retired"  # a former champion
    REJECTED = "rejected"  # lost its evaluation, or was rolled back


class PromotionKind(StrEnum):
    """A control action, as the audit log records it; ``announced_as`` is the ModelEvent
    kind that tells the scorers about it (one mapping, so the two never drift apart)."""

    PROMOTE = "promote"
    ROLLBACK = "rollback"
    PIN = "pin"
    UNPIN = "unpin"

    @property
    def announced_as(self) -> ModelEventKind:
        return _ANNOUNCED_AS[self]


_ANNOUNCED_AS = {
    PromotionKind.PROMOTE: ModelEventKind.PROMOTED,
    PromotionKind.ROLLBACK: ModelEventKind.ROLLED_BACK,
    PromotionKind.PIN: ModelEventKind.PINNED,
    PromotionKind.UNPIN: ModelEventKind.UNPINNED,
}


@dataclass(frozen=True, slots=True)
class OffsetRange:
    """Offsets ``first..last`` (inclusive) of one topic partition a model trained on."""

    topic: str
    partition: int
    first: int
    last: int

    def contains(self, topic: str, partition: int, offset: int) -> bool:
        return (
            self.topic == topic
            and self.partition == partition
            and (self.first <= offset <= self.last)
        )


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """Where a model artifact lives and what it must hash to."""

    uri: str  # s3://bucket/sha256/<hex>
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class ModelVersion:
    id: int
    flavor: str
    artifact: ArtifactRef
    parent_id: int | None
    training_ranges: tuple[OffsetRange, ...]
    hyperparameters: dict[str, Any]
    created_at: datetime
    status: VersionStatus
    status_reason: str = ""  # why it was last rejected or retired, if anyone said
    signature: str = ""  # arena.signing: made by whoever registered it with the signing key
    # Its ONNX form (migration 0009), signed as flavor "onnx"; None: served natively only.
    onnx: ArtifactRef | None = None
    onnx_signature: str = ""
    # The parity check made before the ONNX form was stored, or why it was refused.
    onnx_parity: dict[str, Any] | None = None

    def trained_on(self, topic: str, partition: int, offset: int) -> bool:
        """Whether the event at this position was part of this version's training data."""
        return any(r.contains(topic, partition, offset) for r in self.training_ranges)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One point of the score history: a metric of a version over a window of labeled events."""

    version_id: int
    metric: str
    value: float
    sample_count: int
    window_start: datetime
    window_end: datetime
    computed_at: datetime
    id: int | None = None
    role: str = ""  # "champion", "challenger", "probation", ... (what the evaluator was doing)


@dataclass(frozen=True, slots=True)
class Promotion:
    """An entry of the append-only audit log."""

    id: int
    kind: PromotionKind
    from_version: int | None
    to_version: int | None
    reason: str
    actor: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Pin:
    id: int
    version_id: int
    actor: str
    reason: str
    created_at: datetime
    expires_at: datetime | None = None
    released_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def active_at(self, when: datetime) -> bool:
        if self.released_at is not None and self.released_at <= when:
            return False
        return self.expires_at is None or when < self.expires_at


class ProbationOutcome(StrEnum):
    OPEN = "open"  # still watching
    KEPT = "kept"  # the new champion held up
    ROLLED_BACK = "rolled_back"  # it was significantly worse: rolled back
    CANCELLED = "cancelled"  # an operator changed the champion meanwhile


@dataclass(frozen=True, slots=True)
class Probation:
    """A new champion watched against the one it replaced, on fresh labeled events.

    ``new_correct[i]`` / ``old_correct[i]``: whether each model got the i-th event right.
    ``next_offsets``: per ``"<topic>:<partition>"`` of the image topic, the first offset not
    counted yet (at the start, the topic's end when the new champion was promoted).
    """

    new_version: int
    old_version: int
    started_at: datetime
    new_correct: tuple[bool, ...] = ()
    old_correct: tuple[bool, ...] = ()
    next_offsets: dict[str, int] = field(default_factory=dict)
    outcome: ProbationOutcome = ProbationOutcome.OPEN
    reason: str = ""


class DecisionOutcome(StrEnum):
    PROMOTED = "promoted"  # the challenger won and became the champion
    REJECTED = "rejected"  # it lost (the reason names the rule that failed)
    BLOCKED_BY_PIN = "blocked_by_pin"  # it would have won, but a pin holds
    CANCELLED = "cancelled"  # it won, but another version became champion meanwhile


@dataclass(frozen=True, slots=True)
class ChallengerDecision:
    """The evaluator's verdict on one challenger, with the numbers it was based on.

    ``champion_metrics`` / ``challenger_metrics``: both models scored on the same
    ``sample_count`` labeled events; ``mcnemar_b`` / ``mcnemar_c``: events only the
    champion / only the challenger got right; ``p_value``: one-sided, challenger better.
    """

    challenger_version: int
    champion_version: int
    outcome: DecisionOutcome
    reason: str
    sample_count: int
    champion_metrics: dict[str, float]
    challenger_metrics: dict[str, float]
    mcnemar_b: int
    mcnemar_c: int
    p_value: float
    id: int | None = None
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DriftRecord:
    """One drift detector's alarm, as the registry keeps it.

    ``value_before`` / ``value_after``: the statistic's mean before and since the change;
    ``event_*``: the last event seen when it fired; ``boundary``: per ``topic:partition``,
    the first offset the detector places after the change.
    """

    detector: str
    statistic: str
    value_before: float
    value_after: float
    labeled: bool
    event_topic: str
    event_partition: int
    event_offset: int
    boundary: dict[str, int]
    champion_version: int | None
    id: int | None = None
    detected_at: datetime | None = None
