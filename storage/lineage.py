"""Pure reasoning over the promotions log (no SQL), so rollback targets are easy to test."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from storage.domain import Promotion, PromotionKind

_CHAMPION_CHANGES = (PromotionKind.PROMOTE, PromotionKind.ROLLBACK)


def previous_champion(
    log: Iterable[Promotion], current: int, rejected: Collection[int]
) -> int | None:
    """The most recent earlier champion that was not rejected since, or None.

    ``log`` is the promotions log in any order; pins and unpins never changed the champion.
    """
    changes = sorted((p for p in log if p.kind in _CHAMPION_CHANGES), key=lambda p: p.id)
    for promotion in reversed(changes):
        candidate = promotion.to_version
        if candidate is not None and candidate != current and candidate not in rejected:
            return candidate
    return None
