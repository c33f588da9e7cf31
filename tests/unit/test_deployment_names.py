"""ARENA_DEPLOYMENT names every default topic, group, database and alias prefix."""

from __future__ import annotations

import pytest

from arena.bus.topics import default_topics
from arena.config import Settings


def _names(s: Settings) -> set[str]:
    return {
        *(t.name for t in default_topics(s.kafka)),
        s.scorer.group_id,
        s.trainer.group_id,
        s.evaluator.group_id,
        f"db:{s.db.name}",
        f"alias:{s.s3.alias_prefix}",
    }


def test_the_default_deployment_keeps_todays_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARENA_DEPLOYMENT", raising=False)
    s = Settings()
    assert s.kafka.image_topic == "arena.images" and s.kafka.model_topic == "arena.models"
    assert s.kafka.scorer_status_topic == "arena.scorer-status"
    assert (s.scorer.group_id, s.trainer.group_id) == ("arena-scorer", "arena-trainer")
    assert (s.db.name, s.s3.alias_prefix) == ("arena", "aliases")


def test_two_deployments_share_no_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_DEPLOYMENT", "blue")
    blue = Settings()
    monkeypatch.setenv("ARENA_DEPLOYMENT", "green")
    green = Settings()
    assert blue.kafka.image_topic == "blue.images" and blue.s3.alias_prefix == "aliases/blue"
    assert not _names(blue) & _names(green)


def test_an_explicit_variable_still_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARENA_DEPLOYMENT", "blue")
    monkeypatch.setenv("ARENA_KAFKA_IMAGE_TOPIC", "drones.raw")
    s = Settings()
    assert (s.kafka.image_topic, s.kafka.label_topic) == ("drones.raw", "blue.labels")
    assert Settings(scorer={"group_id": "mine"}).scorer.group_id == "mine"


def test_a_name_unsafe_for_a_database_or_topic_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from arena.errors import ConfigError

    monkeypatch.setenv("ARENA_DEPLOYMENT", "Blue/1")
    with pytest.raises(ConfigError, match="ARENA_DEPLOYMENT"):
        Settings()
