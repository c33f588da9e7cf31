"""The champion as the trainer's loop sees it: a registry read at most every ``refresh_s``,
and during a PostgreSQL outage the last one known (logged), so a batch never waits on it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from arena.outages import outage_cause
from storage.domain import ModelVersion

log = logging.getLogger(__name__)

REFRESH_S = 2.0


class ChampionCache:
    def __init__(
        self,
        read: Callable[[], ModelVersion | None],
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._refresh_s = refresh_s
        self._clock = clock
        self._champion: ModelVersion | None = None
        self._checked_at: float | None = None

    def current(self) -> ModelVersion | None:
        """The champion read within the last ``refresh_s``, or read now."""
        now = self._clock()
        if self._checked_at is not None and now - self._checked_at < self._refresh_s:
            return self._champion
        try:
            champion = self._read()
        except Exception as exc:
            cause = outage_cause(exc)
            if cause is None:
                raise
            log.warning("keeping champion v%s: %s", _id(self._champion), cause)
            return self._champion
        self._checked_at = now
        if champion is not None:  # the registry never loses its champion
            self._champion = champion
        return self._champion


def _id(version: ModelVersion | None) -> str:
    return "none" if version is None else str(version.id)
