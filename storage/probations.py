"""Probations, persisted: a restarted evaluator resumes watching a new champion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Engine, func, select, update

from storage.db import session_factory
from storage.domain import Probation, ProbationOutcome
from storage.errors import RegistryError
from storage.orm import ProbationRow


class Probations:
    """The probation of each promoted version; at most one is open at a time."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def open(
        self, *, new_version: int, old_version: int, next_offsets: Mapping[str, int]
    ) -> Probation:
        """Start watching ``new_version`` against ``old_version`` on the events from
        ``next_offsets`` on (per ``"<topic>:<partition>"``); cancels any open one."""
        with self._sessions.begin() as session:
            session.execute(
                update(ProbationRow)
                .where(ProbationRow.outcome == ProbationOutcome.OPEN.value)
                .values(
                    outcome=ProbationOutcome.CANCELLED.value,
                    reason=f"superseded by the probation of version {new_version}",
                    closed_at=func.now(),
                )
            )
            row = session.get(ProbationRow, new_version)
            if row is None:
                row = ProbationRow(
                    new_version=new_version,
                    old_version=old_version,
                    next_offsets=dict(next_offsets),
                )
                session.add(row)
            else:  # promoted again after an earlier probation: start over
                row.old_version, row.new_correct, row.old_correct = old_version, [], []
                row.next_offsets = dict(next_offsets)
                row.outcome, row.reason, row.closed_at = ProbationOutcome.OPEN.value, "", None
            session.flush()
            session.refresh(row)
            return row.to_domain()

    def current(self) -> Probation | None:
        """The open probation, if any (what a restarted evaluator resumes)."""
        with self._sessions() as session:
            row = session.scalars(
                select(ProbationRow).where(ProbationRow.outcome == ProbationOutcome.OPEN.value)
            ).one_or_none()
            return row.to_domain() if row else None

    def record(
        self,
        new_version: int,
        new_correct: Sequence[bool],
        old_correct: Sequence[bool],
        next_offsets: Mapping[str, int],
    ) -> None:
        """Save the paired outcomes observed so far of an open probation, and where counting
        goes on (in the same transaction: a restart counts no event twice)."""
        with self._sessions.begin() as session:
            session.execute(
                update(ProbationRow)
                .where(
                    ProbationRow.new_version == new_version,
                    ProbationRow.outcome == ProbationOutcome.OPEN.value,
                )
                .values(
                    new_correct=list(new_correct),
                    old_correct=list(old_correct),
                    next_offsets=dict(next_offsets),
                )
            )

    def close(self, new_version: int, outcome: ProbationOutcome, reason: str) -> None:
        """End an open probation with its outcome and the reason (the numbers)."""
        if outcome is ProbationOutcome.OPEN:
            raise RegistryError("Probations.close() needs a final outcome")
        with self._sessions.begin() as session:
            session.execute(
                update(ProbationRow)
                .where(
                    ProbationRow.new_version == new_version,
                    ProbationRow.outcome == ProbationOutcome.OPEN.value,
                )
                .values(outcome=outcome.value, reason=reason, closed_at=func.now())
            )
