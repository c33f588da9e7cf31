from __future__ import annotations

from arena.bus.topics import TopicSpec, default_topics
from arena.config import KafkaSettings


def test_default_topics_partition_data_and_compact_control_topics() -> None:
    kafka = KafkaSettings(partitions=6)
    specs = {s.name: s for s in default_topics(kafka)}
    for name in ("arena.images", "arena.labels", "arena.predictions"):
        assert specs[name].partitions == 6
        assert not specs[name].compacted
    for name in ("arena.models", "arena.scorer-status"):
        assert specs[name].partitions == 1
        assert specs[name].topic_config()["cleanup.policy"] == "compact"
    assert specs["arena.images.dlq"].partitions == 6
    assert "arena.labels.dlq" in specs


def test_topic_config_merges_compaction_into_custom_config() -> None:
    spec = TopicSpec("t", 1, compacted=True, config={"min.compaction.lag.ms": "0"})
    assert spec.topic_config() == {"min.compaction.lag.ms": "0", "cleanup.policy": "compact"}
