"""The model registry over PostgreSQL; every method returns domain objects, never ORM rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, or_, select, text, update
from sqlalchemy.orm import Session

from storage.db import session_factory
from storage.domain import (
    ArtifactRef,
    Evaluation,
    ModelVersion,
    OffsetRange,
    Pin,
    Promotion,
    PromotionKind,
    VersionStatus,
)
from storage.errors import ChampionChanged, RegistryError, UnknownVersion
from storage.lineage import previous_champion
from storage.orm import EvaluationRow, ModelVersionRow, PinRow, PromotionRow

# Serialises champion and pin changes across processes for the length of one transaction.
_CHANGE_LOCK = text("SELECT pg_advisory_xact_lock(74661001)")


class Registry:
    """Model versions, their score history, champion changes and pins."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine  # for the repositories that share it (decisions, drift log)
        self._sessions = session_factory(engine)

    def register_version(
        self,
        flavor: str,
        artifact: ArtifactRef,
        parent_id: int | None,
        training_ranges: Iterable[OffsetRange],
        hyperparameters: dict[str, Any],
        *,
        signature: str,
        onnx: ArtifactRef | None = None,
        onnx_signature: str = "",
        onnx_parity: dict[str, Any] | None = None,
    ) -> ModelVersion:
        """Record a candidate version. Upload the artifacts first: a row must never dangle.

        ``signature``: ``ArtifactSigner.sign(flavor, sha256, size)`` of the artifact; the
        registry stores it and never sees the key. Loaders refuse a version without a
        valid one. ``onnx``: the model's ONNX form, if it has one, signed as flavor
        ``onnx``; ``onnx_parity``: the check made before storing it (or why it was refused).
        """
        if onnx is not None and not onnx_signature:
            raise ValueError("an ONNX artifact needs its signature")
        with self._sessions.begin() as session:
            if parent_id is not None:
                _version_row(session, parent_id)
            row = ModelVersionRow(
                flavor=flavor,
                artifact_uri=artifact.uri,
                sha256=artifact.sha256,
                size_bytes=artifact.size,
                parent_id=parent_id,
                training_ranges=[_range_json(r) for r in training_ranges],
                hyperparameters=hyperparameters,
                status=VersionStatus.CANDIDATE.value,
                signature=signature,
                onnx_uri=onnx.uri if onnx else None,
                onnx_sha256=onnx.sha256 if onnx else None,
                onnx_size_bytes=onnx.size if onnx else None,
                onnx_signature=onnx_signature,
                onnx_parity=onnx_parity,
            )
            session.add(row)
            session.flush()
            session.refresh(row)
            return row.to_domain()

    def set_signature(
        self, version_id: int, signature: str, *, onnx_signature: str | None = None
    ) -> ModelVersion:
        """Replace a version's signature, and its ONNX form's when given (an operator
        vouching for a version registered before signatures existed, or after a key
        rotation)."""
        with self._sessions.begin() as session:
            row = _version_row(session, version_id, for_update=True)
            row.signature = signature
            if onnx_signature is not None:
                row.onnx_signature = onnx_signature
            return row.to_domain()

    def get_version(self, version_id: int) -> ModelVersion:
        """The version ``version_id``; raises UnknownVersion when there is none."""
        with self._sessions() as session:
            return _version_row(session, version_id).to_domain()

    def list_versions(self, status: VersionStatus | None = None) -> list[ModelVersion]:
        """All versions (optionally of one status), oldest first."""
        query = select(ModelVersionRow).order_by(ModelVersionRow.id)
        if status is not None:
            query = query.where(ModelVersionRow.status == status.value)
        with self._sessions() as session:
            return [row.to_domain() for row in session.scalars(query)]

    def champion(self) -> ModelVersion | None:
        with self._sessions() as session:
            row = _champion_row(session)
            return row.to_domain() if row else None

    def set_champion(
        self,
        to_version: int,
        *,
        reason: str,
        actor: str,
        kind: PromotionKind = PromotionKind.PROMOTE,
        expected_champion: int | None = None,
    ) -> Promotion:
        """Make ``to_version`` the champion in one transaction, with its audit row.

        The old champion becomes retired, or rejected when ``kind`` is a rollback. With
        ``expected_champion``, a compare-and-set: the change applies only if that version
        is the champion; if this very change was already made from it (a retry), the audit
        row of that change is returned and nothing happens again; else ChampionChanged.
        """
        if kind not in (PromotionKind.PROMOTE, PromotionKind.ROLLBACK):
            raise RegistryError(f"set_champion() records champion changes, not {kind.value}")
        with self._sessions.begin() as session:
            session.execute(_CHANGE_LOCK)
            if expected_champion is not None:
                done = _expect_champion(session, expected_champion, kind, to_version)
                if done is not None:
                    return done
            return _change_champion(session, to_version, reason=reason, actor=actor, kind=kind)

    def rollback(
        self,
        *,
        reason: str,
        actor: str,
        to_version: int | None = None,
        expected_champion: int | None = None,
    ) -> Promotion:
        """Reject the champion and go back to ``to_version`` or else the previous good champion.

        With ``expected_champion`` (the version to roll back), a retry after the rollback
        was made returns the audit row of that rollback instead of rolling back again.
        """
        with self._sessions.begin() as session:
            session.execute(_CHANGE_LOCK)
            if expected_champion is not None:
                done = _expect_champion(
                    session, expected_champion, PromotionKind.ROLLBACK, to_version
                )
                if done is not None:
                    return done
            current = _champion_row(session)
            if current is None:
                raise RegistryError("no champion to roll back")
            if to_version is None:
                changes = select(PromotionRow).where(
                    PromotionRow.kind.in_(
                        [PromotionKind.PROMOTE.value, PromotionKind.ROLLBACK.value]
                    )
                )
                log = [r.to_domain() for r in session.scalars(changes)]
                rejected = session.scalars(
                    select(ModelVersionRow.id).where(
                        ModelVersionRow.status == VersionStatus.REJECTED.value
                    )
                ).all()
                to_version = previous_champion(log, current.id, set(rejected))
                if to_version is None:
                    raise RegistryError(f"no earlier champion to roll back to from {current.id}")
            return _change_champion(
                session, to_version, reason=reason, actor=actor, kind=PromotionKind.ROLLBACK
            )

    def reject(self, version_id: int, reason: str) -> ModelVersion:
        """Mark a non-champion version rejected (it lost its evaluation)."""
        with self._sessions.begin() as session:
            session.execute(_CHANGE_LOCK)
            row = _version_row(session, version_id, for_update=True)
            if row.status == VersionStatus.CHAMPION.value:
                raise RegistryError(f"version {version_id} is the champion: roll it back instead")
            row.status = VersionStatus.REJECTED.value
            row.status_reason = reason
            return row.to_domain()

    def pin(
        self, version_id: int, *, actor: str, reason: str, expires_at: datetime | None = None
    ) -> Pin:
        """Serve ``version_id`` regardless of the champion, replacing any earlier pin."""
        with self._sessions.begin() as session:
            session.execute(_CHANGE_LOCK)
            _version_row(session, version_id)
            released = _release_pin(session)
            row = PinRow(version_id=version_id, actor=actor, reason=reason, expires_at=expires_at)
            session.add(row)
            _audit(session, PromotionKind.PIN, released, version_id, reason=reason, actor=actor)
            session.flush()
            session.refresh(row)
            return row.to_domain()

    def unpin(self, *, actor: str, reason: str) -> Pin | None:
        """Release the unreleased pin (even an expired one); None when there was none."""
        with self._sessions.begin() as session:
            session.execute(_CHANGE_LOCK)
            row = session.scalars(select(PinRow).where(PinRow.released_at.is_(None))).one_or_none()
            if row is None:
                return None
            row.released_at = session.scalar(select(func.now()))
            _audit(session, PromotionKind.UNPIN, row.version_id, None, reason=reason, actor=actor)
            return row.to_domain()

    def active_pin(self, now: datetime | None = None) -> Pin | None:
        """The pin in force at ``now`` (default: the database's clock), honouring expiry."""
        with self._sessions() as session:
            return _active_pin(session, now)

    def serving_version(self, now: datetime | None = None) -> ModelVersion | None:
        """What to serve: the pinned version while a pin is active, else the champion."""
        with self._sessions() as session:
            pin = _active_pin(session, now)
            row = _version_row(session, pin.version_id) if pin else _champion_row(session)
            return row.to_domain() if row else None

    def record_evaluations(self, evaluations: Sequence[Evaluation]) -> list[Evaluation]:
        """Append points to the score history; returns them with their ids."""
        rows = [EvaluationRow.from_domain(e) for e in evaluations]
        with self._sessions.begin() as session:
            session.add_all(rows)
            session.flush()
            return [row.to_domain() for row in rows]

    def history(
        self,
        version_id: int | None = None,
        metric: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        until: datetime | None = None,
    ) -> list[Evaluation]:
        """Score history in time order; with ``limit``, the most recent ``limit`` points.

        ``since`` is inclusive and ``until`` exclusive, as in the HTTP API's history.
        """
        query = select(EvaluationRow).order_by(
            EvaluationRow.computed_at.desc(), EvaluationRow.id.desc()
        )
        if version_id is not None:
            query = query.where(EvaluationRow.version_id == version_id)
        if metric is not None:
            query = query.where(EvaluationRow.metric == metric)
        if since is not None:
            query = query.where(EvaluationRow.computed_at >= since)
        if until is not None:
            query = query.where(EvaluationRow.computed_at < until)
        if limit is not None:
            query = query.limit(limit)
        with self._sessions() as session:
            return [row.to_domain() for row in reversed(session.scalars(query).all())]

    def latest_metrics(self, version_id: int) -> dict[str, float]:
        """The most recent value of each metric recorded for ``version_id``."""
        newest_first = func.row_number().over(
            partition_by=EvaluationRow.metric,
            order_by=(EvaluationRow.computed_at.desc(), EvaluationRow.id.desc()),
        )
        ranked = (
            select(EvaluationRow.metric, EvaluationRow.value, newest_first.label("rank"))
            .where(EvaluationRow.version_id == version_id)
            .subquery()
        )
        query = select(ranked.c.metric, ranked.c.value).where(ranked.c.rank == 1)
        with self._sessions() as session:
            return dict(session.execute(query).all())

    def promotions(self, limit: int | None = None) -> list[Promotion]:
        """The audit log in time order; with ``limit``, the most recent ``limit`` entries."""
        query = select(PromotionRow).order_by(PromotionRow.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._sessions() as session:
            return [row.to_domain() for row in reversed(session.scalars(query).all())]


def _version_row(session: Session, version_id: int, *, for_update: bool = False) -> ModelVersionRow:
    query = select(ModelVersionRow).where(ModelVersionRow.id == version_id)
    row = session.scalars(query.with_for_update() if for_update else query).one_or_none()
    if row is None:
        raise UnknownVersion(version_id)
    return row


def _champion_row(session: Session) -> ModelVersionRow | None:
    query = select(ModelVersionRow).where(ModelVersionRow.status == VersionStatus.CHAMPION.value)
    return session.scalars(query).one_or_none()


def _change_champion(
    session: Session, to_version: int, *, reason: str, actor: str, kind: PromotionKind
) -> Promotion:
    target = _version_row(session, to_version, for_update=True)
    old = _champion_row(session)
    if old is not None and old.id == target.id:
        raise RegistryError(f"version {to_version} is already the champion")
    if old is not None:
        demoted = (
            VersionStatus.REJECTED if kind is PromotionKind.ROLLBACK else VersionStatus.RETIRED
        )
        # Demote before promoting: the one-champion index is checked row by row.
        session.execute(
            update(ModelVersionRow)
            .where(ModelVersionRow.id == old.id)
            .values(status=demoted.value, status_reason=reason)
        )
    target.status = VersionStatus.CHAMPION.value
    target.status_reason = ""
    row = _audit(session, kind, old.id if old else None, to_version, reason=reason, actor=actor)
    session.flush()
    session.refresh(row)
    return row.to_domain()


def _expect_champion(
    session: Session, expected: int, kind: PromotionKind, to_version: int | None
) -> Promotion | None:
    """Check a compare-and-set: None when ``expected`` is the champion (go ahead); the
    earlier audit row when this change was already made from it (a retry); else raise."""
    current = _champion_row(session)
    if current is not None and current.id == expected:
        return None
    last = session.scalars(
        select(PromotionRow)
        .where(PromotionRow.kind.in_([PromotionKind.PROMOTE.value, PromotionKind.ROLLBACK.value]))
        .order_by(PromotionRow.id.desc())
        .limit(1)
    ).one_or_none()
    if (
        last is not None
        and current is not None
        and last.kind == kind.value
        and last.from_version == expected
        and last.to_version == current.id
        and (to_version is None or to_version == current.id)
    ):
        return last.to_domain()
    now = current.id if current is not None else "none"
    raise ChampionChanged(
        f"expected version {expected} to be the champion, but the champion is {now}: "
        "nothing was changed"
    )


def _release_pin(session: Session) -> int | None:
    """Release the unreleased pin, returning the version it pinned."""
    row = session.scalars(select(PinRow).where(PinRow.released_at.is_(None))).one_or_none()
    if row is None:
        return None
    row.released_at = session.scalar(select(func.now()))
    session.flush()
    return row.version_id


def _active_pin(session: Session, now: datetime | None) -> Pin | None:
    at = func.now() if now is None else now
    query = select(PinRow).where(
        PinRow.released_at.is_(None), or_(PinRow.expires_at.is_(None), PinRow.expires_at > at)
    )
    row = session.scalars(query).one_or_none()
    return row.to_domain() if row else None


def _audit(
    session: Session,
    kind: PromotionKind,
    from_version: int | None,
    to_version: int | None,
    *,
    reason: str,
    actor: str,
) -> PromotionRow:
    row = PromotionRow(
        kind=kind.value,
        from_version=from_version,
        to_version=to_version,
        reason=reason,
        actor=actor,
    )
    session.add(row)
    return row


def _range_json(r: OffsetRange) -> dict[str, Any]:
    return {"topic": r.topic, "partition": r.partition, "first": r.first, "last": r.last}
