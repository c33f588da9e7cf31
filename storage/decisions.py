"""The evaluator's challenger decisions, persisted so operators and analysts can read them."""

from __future__ import annotations

from sqlalchemy import Engine, select

from storage.db import append, session_factory
from storage.domain import ChallengerDecision, DecisionOutcome
from storage.orm import DecisionRow


class Decisions:
    """Every verdict on a challenger (promoted, rejected, blocked by a pin, cancelled)."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def record(self, decision: ChallengerDecision) -> ChallengerDecision:
        """Append one decision; returns it with its id and time."""
        return append(self._sessions, DecisionRow.from_domain(decision))

    def recent(
        self,
        *,
        challenger_version: int | None = None,
        outcome: DecisionOutcome | None = None,
        limit: int = 100,
    ) -> list[ChallengerDecision]:
        """The most recent ``limit`` decisions, newest first."""
        query = select(DecisionRow).order_by(DecisionRow.id.desc()).limit(limit)
        if challenger_version is not None:
            query = query.where(DecisionRow.challenger_version == challenger_version)
        if outcome is not None:
            query = query.where(DecisionRow.outcome == outcome.value)
        with self._sessions() as session:
            return [row.to_domain() for row in session.scalars(query)]
