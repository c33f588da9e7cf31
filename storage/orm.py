"""SQLAlchemy 2 rows of the model registry; each converts to its domain object with ``to_domain``.

The schema itself is created by the hand-written Alembic migrations in ``migrations/versions``;
these classes describe it for queries and must stay in step with them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.domain import (
    ArtifactRef,
    ChallengerDecision,
    DecisionOutcome,
    DriftRecord,
    Evaluation,
    ModelVersion,
    OffsetRange,
    Pin,
    Probation,
    ProbationOutcome,
    Promotion,
    PromotionKind,
    VersionStatus,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_STATUSES = ", ".join(f"'{s.value}'" for s in VersionStatus)
_KINDS = ", ".join(f"'{k.value}'" for k in PromotionKind)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's declarative configuration
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
        list[dict[str, Any]]: JSONB,
        str: Text,
    }


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        CheckConstraint(
            "(onnx_uri IS NULL) = (onnx_sha256 IS NULL) "
            "AND (onnx_uri IS NULL) = (onnx_size_bytes IS NULL)",
            name="onnx_complete",
        ),
        Index(
            "uq_model_versions_one_champion",
            "status",
            unique=True,
            postgresql_where=text("status = 'champion'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    flavor: Mapped[str]
    artifact_uri: Mapped[str]
    sha256: Mapped[str]
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    training_ranges: Mapped[list[dict[str, Any]]] = mapped_column(
        server_default=text("'[]'::jsonb")
    )
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    status: Mapped[str] = mapped_column(server_default=VersionStatus.CANDIDATE.value)
    status_reason: Mapped[str] = mapped_column(server_default="")
    signature: Mapped[str] = mapped_column(server_default="")
    onnx_uri: Mapped[str | None]
    onnx_sha256: Mapped[str | None]
    onnx_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    onnx_signature: Mapped[str] = mapped_column(server_default="")
    onnx_parity: Mapped[dict[str, Any] | None]

    def to_domain(self) -> ModelVersion:
        return ModelVersion(
            id=self.id,
            flavor=self.flavor,
            artifact=ArtifactRef(uri=self.artifact_uri, sha256=self.sha256, size=self.size_bytes),
            parent_id=self.parent_id,
            training_ranges=tuple(OffsetRange(**r) for r in self.training_ranges),
            hyperparameters=dict(self.hyperparameters),
            created_at=self.created_at,
            status=VersionStatus(self.status),
            status_reason=self.status_reason,
            signature=self.signature,
            onnx=(
                ArtifactRef(self.onnx_uri, self.onnx_sha256, self.onnx_size_bytes)
                if self.onnx_uri is not None
                and self.onnx_sha256 is not None
                and self.onnx_size_bytes is not None
                else None
            ),
            onnx_signature=self.onnx_signature,
            onnx_parity=dict(self.onnx_parity) if self.onnx_parity is not None else None,
        )


class EvaluationRow(Base):
    __tablename__ = "evaluations"
    __table_args__ = (Index(None, "version_id", "metric", "computed_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    metric: Mapped[str]
    value: Mapped[float] = mapped_column(Double)
    sample_count: Mapped[int]
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    computed_at: Mapped[datetime] = mapped_column(server_default=func.now())
    role: Mapped[str] = mapped_column(server_default="")

    @classmethod
    def from_domain(cls, evaluation: Evaluation) -> EvaluationRow:
        return cls(
            version_id=evaluation.version_id,
            metric=evaluation.metric,
            value=evaluation.value,
            sample_count=evaluation.sample_count,
            window_start=evaluation.window_start,
            window_end=evaluation.window_end,
            computed_at=evaluation.computed_at,
            role=evaluation.role,
        )

    def to_domain(self) -> Evaluation:
        return Evaluation(
            id=self.id,
            version_id=self.version_id,
            metric=self.metric,
            value=self.value,
            sample_count=self.sample_count,
            window_start=self.window_start,
            window_end=self.window_end,
            computed_at=self.computed_at,
            role=self.role,
        )


class PromotionRow(Base):
    """The audit log; a trigger created by the migration refuses UPDATE and DELETE."""

    __tablename__ = "promotions"
    __table_args__ = (CheckConstraint(f"kind IN ({_KINDS})", name="kind"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str]
    from_version: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    to_version: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    reason: Mapped[str]
    actor: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    def to_domain(self) -> Promotion:
        return Promotion(
            id=self.id,
            kind=PromotionKind(self.kind),
            from_version=self.from_version,
            to_version=self.to_version,
            reason=self.reason,
            actor=self.actor,
            created_at=self.created_at,
        )


class PinRow(Base):
    __tablename__ = "pins"
    __table_args__ = (
        Index(
            "uq_pins_one_unreleased",
            text("(released_at IS NULL)"),
            unique=True,
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    actor: Mapped[str]
    reason: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]

    def to_domain(self) -> Pin:
        return Pin(
            id=self.id,
            version_id=self.version_id,
            actor=self.actor,
            reason=self.reason,
            created_at=self.created_at,
            expires_at=self.expires_at,
            released_at=self.released_at,
        )


_OUTCOMES = ", ".join(f"'{o.value}'" for o in ProbationOutcome)


class ProbationRow(Base):
    """One probation per promoted version; at most one open (a partial unique index)."""

    __tablename__ = "probations"
    __table_args__ = (
        CheckConstraint(f"outcome IN ({_OUTCOMES})", name="outcome"),
        Index(
            "uq_probations_one_open",
            text("(outcome = 'open')"),
            unique=True,
            postgresql_where=text("outcome = 'open'"),
        ),
    )

    new_version: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    old_version: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    new_correct: Mapped[list[bool]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    old_correct: Mapped[list[bool]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    # Per "<topic>:<partition>" of the image topic, the first offset not counted yet.
    next_offsets: Mapped[dict[str, int]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    outcome: Mapped[str] = mapped_column(server_default=ProbationOutcome.OPEN.value)
    reason: Mapped[str] = mapped_column(server_default="")
    closed_at: Mapped[datetime | None]

    def to_domain(self) -> Probation:
        return Probation(
            new_version=self.new_version,
            old_version=self.old_version,
            started_at=self.started_at,
            new_correct=tuple(bool(x) for x in self.new_correct),
            old_correct=tuple(bool(x) for x in self.old_correct),
            next_offsets={str(k): int(v) for k, v in self.next_offsets.items()},
            outcome=ProbationOutcome(self.outcome),
            reason=self.reason,
        )


_OUTCOMES_OF_DECISIONS = ", ".join(f"'{o.value}'" for o in DecisionOutcome)


class DecisionRow(Base):
    """The evaluator's challenger decisions, append-only (a trigger refuses UPDATE, DELETE)."""

    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint(f"outcome IN ({_OUTCOMES_OF_DECISIONS})", name="outcome"),
        Index(None, "decided_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    challenger_version: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    champion_version: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    outcome: Mapped[str]
    reason: Mapped[str]
    sample_count: Mapped[int]
    champion_metrics: Mapped[dict[str, Any]]
    challenger_metrics: Mapped[dict[str, Any]]
    mcnemar_b: Mapped[int]
    mcnemar_c: Mapped[int]
    p_value: Mapped[float] = mapped_column(Double)
    decided_at: Mapped[datetime] = mapped_column(server_default=func.now())

    @classmethod
    def from_domain(cls, d: ChallengerDecision) -> DecisionRow:
        return cls(
            challenger_version=d.challenger_version,
            champion_version=d.champion_version,
            outcome=d.outcome.value,
            reason=d.reason,
            sample_count=d.sample_count,
            champion_metrics=dict(d.champion_metrics),
            challenger_metrics=dict(d.challenger_metrics),
            mcnemar_b=d.mcnemar_b,
            mcnemar_c=d.mcnemar_c,
            p_value=d.p_value,
        )

    def to_domain(self) -> ChallengerDecision:
        return ChallengerDecision(
            id=self.id,
            challenger_version=self.challenger_version,
            champion_version=self.champion_version,
            outcome=DecisionOutcome(self.outcome),
            reason=self.reason,
            sample_count=self.sample_count,
            champion_metrics={k: float(v) for k, v in self.champion_metrics.items()},
            challenger_metrics={k: float(v) for k, v in self.challenger_metrics.items()},
            mcnemar_b=self.mcnemar_b,
            mcnemar_c=self.mcnemar_c,
            p_value=self.p_value,
            decided_at=self.decided_at,
        )


class DriftDetectionRow(Base):
    """Drift detectors' alarms, append-only (a trigger refuses UPDATE, DELETE)."""

    __tablename__ = "drift_detections"
    __table_args__ = (Index(None, "detected_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    detector: Mapped[str]
    statistic: Mapped[str]
    value_before: Mapped[float] = mapped_column(Double)
    value_after: Mapped[float] = mapped_column(Double)
    labeled: Mapped[bool] = mapped_column(Boolean)
    event_topic: Mapped[str]
    event_partition: Mapped[int]
    event_offset: Mapped[int] = mapped_column(BigInteger)
    boundary: Mapped[dict[str, Any]]
    champion_version: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    detected_at: Mapped[datetime] = mapped_column(server_default=func.now())

    @classmethod
    def from_domain(cls, d: DriftRecord) -> DriftDetectionRow:
        return cls(
            detector=d.detector,
            statistic=d.statistic,
            value_before=d.value_before,
            value_after=d.value_after,
            labeled=d.labeled,
            event_topic=d.event_topic,
            event_partition=d.event_partition,
            event_offset=d.event_offset,
            boundary=dict(d.boundary),
            champion_version=d.champion_version,
        )

    def to_domain(self) -> DriftRecord:
        return DriftRecord(
            id=self.id,
            detector=self.detector,
            statistic=self.statistic,
            value_before=self.value_before,
            value_after=self.value_after,
            labeled=self.labeled,
            event_topic=self.event_topic,
            event_partition=self.event_partition,
            event_offset=self.event_offset,
            boundary={k: int(v) for k, v in self.boundary.items()},
            champion_version=self.champion_version,
            detected_at=self.detected_at,
        )
