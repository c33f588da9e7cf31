"""The Kafka bus: topics, producers, batch consumers, dead letters and transactions."""

from arena.bus.backoff import Backoff
from arena.bus.consumer import BatchConsumer
from arena.bus.dlq import dead_letter_record
from arena.bus.offsets import first_offsets, next_offsets
from arena.bus.producer import flush_or_raise, make_producer
from arena.bus.records import BatchResult, BatchStats, KafkaMessage, OutRecord
from arena.bus.stop import StopFlag
from arena.bus.topics import TopicSpec, default_topics, delete_topics, ensure_topics
from arena.bus.transactional import TransactionalProcessor

__all__ = [
    "Backoff",
    "BatchConsumer",
    "BatchResult",
    "BatchStats",
    "KafkaMessage",
    "OutRecord",
    "StopFlag",
    "TopicSpec",
    "TransactionalProcessor",
    "dead_letter_record",
    "default_topics",
    "delete_topics",
    "ensure_topics",
    "first_offsets",
    "flush_or_raise",
    "make_producer",
    "next_offsets",
]
