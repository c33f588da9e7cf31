"""Integration fixtures: the real stack started by `arena stack up` (or reused if running)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.config import Settings
from arena.stack import runner

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The hook sees the whole session's items: mark only the ones below this folder.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session", autouse=True)
def stack(settings: Settings) -> Iterator[None]:
    """Start the servers, or reuse the running ones; `up` is idempotent and waits for readiness."""
    runner.up(settings)
    yield


@pytest.fixture(scope="session")
def migrated_db(settings: Settings) -> Settings:
    """The registry database at the newest migration."""
    from storage import migrate

    migrate.upgrade(settings.db)
    return settings
