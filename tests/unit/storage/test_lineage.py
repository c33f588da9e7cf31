"""Which champion a rollback returns to, from the promotions log alone."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.domain import Promotion, PromotionKind
from storage.lineage import previous_champion

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _log(*changes: tuple[PromotionKind, int | None, int | None]) -> list[Promotion]:
    return [Promotion(i, kind, f, t, "r", "a", T0) for i, (kind, f, t) in enumerate(changes, 1)]


PROMOTE, ROLLBACK, PIN = PromotionKind.PROMOTE, PromotionKind.ROLLBACK, PromotionKind.PIN


def test_returns_the_champion_before_the_current_one() -> None:
    log = _log((PROMOTE, None, 1), (PROMOTE, 1, 2), (PROMOTE, 2, 3))

    assert previous_champion(log, current=3, rejected=set()) == 2


def test_skips_rejected_versions_and_pins() -> None:
    log = _log((PROMOTE, None, 1), (PROMOTE, 1, 2), (PIN, None, 9), (PROMOTE, 2, 3))

    assert previous_champion(log, current=3, rejected={2}) == 1


def test_a_second_rollback_does_not_return_to_the_rolled_back_version() -> None:
    log = _log((PROMOTE, None, 1), (PROMOTE, 1, 2), (PROMOTE, 2, 3), (ROLLBACK, 3, 2))

    assert previous_champion(reversed(log), current=2, rejected={3}) == 1


def test_none_when_there_was_no_earlier_champion() -> None:
    assert previous_champion(_log((PROMOTE, None, 1)), current=1, rejected=set()) is None
    assert previous_champion([], current=1, rejected=set()) is None
