"""Read-only views of the registry for operators and analysts (``arena api``): a page of the
score history with its filters, and the pins ever set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from storage.db import session_factory
from storage.domain import Evaluation, Pin
from storage.orm import EvaluationRow, PinRow


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """``points`` in time order; ``total`` matching points; ``next_offset`` None on the last."""

    points: list[Evaluation]
    total: int
    next_offset: int | None


class Reports:
    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def history_page(
        self,
        *,
        version_id: int | None = None,
        metric: str | None = None,
        role: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 500,
    ) -> HistoryPage:
        """Score history oldest first, ``limit`` points from ``offset``.

        Oldest first on purpose: the history is append-only, so new points land on the last
        page and never shift a page a client has already read.
        """
        where = []
        if version_id is not None:
            where.append(EvaluationRow.version_id == version_id)
        if metric is not None:
            where.append(EvaluationRow.metric == metric)
        if role is not None:
            where.append(EvaluationRow.role == role)
        if since is not None:
            where.append(EvaluationRow.computed_at >= since)
        if until is not None:
            where.append(EvaluationRow.computed_at < until)
        query = (
            select(EvaluationRow)
            .where(*where)
            .order_by(EvaluationRow.computed_at, EvaluationRow.id)
            .offset(offset)
            .limit(limit)
        )
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(EvaluationRow).where(*where))
            points = [row.to_domain() for row in session.scalars(query)]
        total = total or 0
        more = offset + len(points) < total
        return HistoryPage(points, total, offset + len(points) if more else None)

    def pins(self, limit: int = 100) -> list[Pin]:
        """The most recent ``limit`` pins, newest first, released or not."""
        query = select(PinRow).order_by(PinRow.id.desc()).limit(limit)
        with self._sessions() as session:
            return [row.to_domain() for row in session.scalars(query)]
