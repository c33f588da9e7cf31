"""Drift detections, persisted so ``arena history``, the API and analysts can read them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from storage.db import append, session_factory
from storage.domain import DriftRecord
from storage.orm import DriftDetectionRow


class DriftLog:
    """Every alarm of a drift detector (append-only)."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def record(self, detection: DriftRecord) -> DriftRecord:
        """Append one detection; returns it with its id and time."""
        return append(self._sessions, DriftDetectionRow.from_domain(detection))

    def recent(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[DriftRecord]:
        """The most recent ``limit`` detections in [since, until), newest first."""
        query = select(DriftDetectionRow).order_by(DriftDetectionRow.id.desc()).limit(limit)
        if since is not None:
            query = query.where(DriftDetectionRow.detected_at >= since)
        if until is not None:
            query = query.where(DriftDetectionRow.detected_at < until)
        with self._sessions() as session:
            return [row.to_domain() for row in session.scalars(query)]
