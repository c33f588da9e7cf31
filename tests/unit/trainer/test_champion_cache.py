from __future__ import annotations

import psycopg
import pytest

from storage.domain import ModelVersion, VersionStatus
from tests.unit.versions import model_version
from trainer.champion_cache import ChampionCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def version(vid: int) -> ModelVersion:
    return model_version(vid, status=VersionStatus.CHAMPION)


class Registry:
    def __init__(self) -> None:
        self.champion: ModelVersion | None = version(1)
        self.reads = 0
        self.error: Exception | None = None

    def read(self) -> ModelVersion | None:
        self.reads += 1
        if self.error is not None:
            raise self.error
        return self.champion


def test_reads_the_registry_at_most_once_per_refresh() -> None:
    registry, clock = Registry(), Clock()
    cache = ChampionCache(registry.read, refresh_s=2.0, clock=clock)
    assert cache.current() == version(1)
    registry.champion = version(2)
    clock.now = 1.9
    assert cache.current() == version(1) and registry.reads == 1
    clock.now = 2.0
    assert cache.current() == version(2) and registry.reads == 2


def test_an_outage_keeps_the_last_champion_known_and_retries_at_the_next_call() -> None:
    registry, clock = Registry(), Clock()
    cache = ChampionCache(registry.read, refresh_s=2.0, clock=clock)
    cache.current()
    registry.error = psycopg.OperationalError("connection refused")
    clock.now = 5.0
    assert cache.current() == version(1)
    registry.error, registry.champion = None, version(3)
    assert cache.current() == version(3)  # not cached: the failed read did not count


def test_an_error_that_is_no_outage_is_raised() -> None:
    registry = Registry()
    registry.error = ValueError("a bug, not an outage")
    with pytest.raises(ValueError, match="a bug"):
        ChampionCache(registry.read).current()
