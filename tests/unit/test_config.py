from __future__ import annotations

import pytest

from arena.config import Settings
from arena.errors import ConfigError


def test_defaults_point_at_the_local_stack() -> None:
    s = Settings()
    assert s.kafka.bootstrap == "127.0.0.1:19092"
    assert s.db.url.startswith("postgresql+psycopg://arena:")
    assert s.kafka.dlq_topic("arena.images") == "arena.images.dlq"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_SCORER_BATCH_SIZE", "512")
    assert Settings().scorer.batch_size == 512


def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_SCORER_BATCH_SIZE", "zero")
    with pytest.raises(ConfigError, match="ARENA_SCORER_BATCH_SIZE"):
        Settings()


def test_default_secrets_refused_outside_local_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_MODE", "production")
    with pytest.raises(ConfigError, match="ARENA_DB_PASSWORD"):
        Settings()
    monkeypatch.setenv("ARENA_DB_PASSWORD", "s3cret-from-vault")
    with pytest.raises(ConfigError, match="ARENA_S3_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("ARENA_S3_SECRET_KEY", "another-real-secret")
    assert Settings().mode.mode == "production"


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError):
        s.kafka.bootstrap = "elsewhere:1"  # type: ignore[misc]
