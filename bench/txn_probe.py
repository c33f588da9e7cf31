"""Where the scorer's time goes outside the model: the cost of one Kafka transaction
(begin, produce N small records, send offsets, commit) per batch size, with a handler that
does no work. Uses the scorer's own consumer and producer tuning."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

from confluent_kafka import Message

from arena.bus.consumer import BatchConsumer
from arena.bus.producer import make_producer
from arena.bus.records import BatchResult, OutRecord
from arena.bus.transactional import TransactionalProcessor
from arena.config import Settings
from bench.kit import drop_topics, phase_settings, produce_all
from bench.throughput import raw_frames
from scorer.app import CONSUMER_TUNING, PRODUCER_TUNING

PREDICTION_LIKE = b"x" * 180  # about the size of an encoded Prediction


def transaction_cost(base: Settings, batch_sizes: tuple[int, ...], batches: int) -> dict[str, Any]:
    """Median milliseconds per committed transaction, per batch size."""
    settings = phase_settings(base, "txn")
    run = uuid.uuid4().hex[:6]
    total = sum(batch_sizes) * (batches + 2)
    out: dict[str, Any] = {}
    try:
        produce_all(settings, raw_frames(total, run))
        consumer = BatchConsumer(settings.kafka, f"bench-txn-{run}", **CONSUMER_TUNING)
        consumer.subscribe([settings.kafka.image_topic])
        processor = TransactionalProcessor(
            consumer,
            lambda: make_producer(
                settings.kafka, transactional_id=f"bench-txn-{run}", **PRODUCER_TUNING
            ),
            settings.kafka,
        )
        processor.init()
        topic = settings.kafka.prediction_topic

        def handler(messages: list[Message]) -> BatchResult:
            return BatchResult(
                outputs=[OutRecord(topic, m.key(), PREDICTION_LIKE) for m in messages]
            )

        for size in batch_sizes:
            consume_ms, commit_ms, got = [], [], 0
            for i in range(batches + 2):
                t0 = time.perf_counter()
                msgs: list[Message] = []
                while len(msgs) < size:
                    msgs += consumer.consume(size - len(msgs), 1.0)
                t1 = time.perf_counter()
                processor.process_batch(msgs, handler)
                t2 = time.perf_counter()
                got += len(msgs)
                if i >= 2:  # the first transactions pay for partition registration
                    consume_ms.append((t1 - t0) * 1000)
                    commit_ms.append((t2 - t1) * 1000)
            txn = statistics.median(commit_ms)
            out[str(size)] = {
                "txn_ms": round(txn, 2),
                "consume_ms": round(statistics.median(consume_ms), 2),
                "kafka_only_img_s": round(size / ((txn + statistics.median(consume_ms)) / 1000)),
            }
        consumer.close()
        processor.close()
        return out
    finally:
        drop_topics(settings)
