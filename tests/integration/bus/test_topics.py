from __future__ import annotations

import uuid

from confluent_kafka.admin import AdminClient

from arena.bus.topics import default_topics, delete_topics, ensure_topics, topic_config
from arena.config import KafkaSettings


def test_default_topics_are_created_once_and_control_topics_are_compacted(
    kafka: KafkaSettings,
) -> None:
    prefix = f"test.{uuid.uuid4().hex[:10]}"
    settings = KafkaSettings(
        bootstrap=kafka.bootstrap,
        image_topic=f"{prefix}.images",
        label_topic=f"{prefix}.labels",
        prediction_topic=f"{prefix}.predictions",
        model_topic=f"{prefix}.models",
        scorer_status_topic=f"{prefix}.scorer-status",
        partitions=3,
    )
    specs = default_topics(settings)
    names = [s.name for s in specs]
    try:
        assert sorted(ensure_topics(settings, specs)) == sorted(names)
        assert ensure_topics(settings, specs) == []  # idempotent

        metadata = AdminClient({"bootstrap.servers": kafka.bootstrap}).list_topics(timeout=10)
        assert len(metadata.topics[settings.image_topic].partitions) == 3
        assert len(metadata.topics[f"{prefix}.images.dlq"].partitions) == 3
        assert len(metadata.topics[f"{prefix}.labels.dlq"].partitions) == 3
        assert len(metadata.topics[settings.model_topic].partitions) == 1
        assert topic_config(settings, settings.model_topic)["cleanup.policy"] == "compact"
        assert topic_config(settings, settings.scorer_status_topic)["cleanup.policy"] == "compact"
        assert topic_config(settings, settings.image_topic)["cleanup.policy"] == "delete"
    finally:
        delete_topics(settings, names)
