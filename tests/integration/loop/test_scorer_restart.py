"""A scorer killed mid-transaction: its restart frees the partitions before loading a model.

The dead scorer's batch left offsets pending in an open transaction, and while it is open
no member of the group can read those partitions (Kafka's stable offset fetch). The
restarted scorer (same id, so same transactional id) must fence it first thing, not after
its model has loaded, which takes tens of seconds with TensorFlow on a busy machine.
"""

from __future__ import annotations

import subprocess
import sys
import time

from confluent_kafka import Consumer

from arena.bus.consumer import consumer_config
from arena.bus.producer import make_producer
from arena.demo.fleet import Fleet
from tests.integration.loop.conftest import Loop

ZOMBIE_TXN_TIMEOUT_MS = 60_000  # what the dead scorer's transaction would otherwise hold
FREED_WITHIN_S = 15.0

# A scorer's last moments: read a batch in the scorer group, produce its outputs and add its
# offsets to the transaction, then die (os._exit: no abort, no close) with it open.
_ZOMBIE = """
import os, sys
from confluent_kafka import Consumer, Producer, TopicPartition
bootstrap, topic, group, txn_id, timeout_ms = sys.argv[1:6]
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "isolation.level": "read_committed", "enable.auto.commit": False})
consumer.assign([TopicPartition(topic, 0, 0)])
batch = consumer.consume(10, 20)
assert batch, "the zombie read nothing"
producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                     "transaction.timeout.ms": int(timeout_ms)})
producer.init_transactions(20)
producer.begin_transaction()
producer.produce(topic + ".zombie-out", b"prediction")
producer.send_offsets_to_transaction(
    [TopicPartition(topic, 0, batch[-1].offset() + 1)], consumer.consumer_group_metadata(), 20)
producer.flush(20)
print("pending", flush=True)
os._exit(0)
"""


def _first_read_s(loop: Loop, topic: str, group: str, cap_s: float) -> float | None:
    """Seconds until a new member of ``group`` reads ``topic`` (None: not within ``cap_s``)."""
    reader = Consumer(consumer_config(loop.settings.kafka, group))
    try:
        reader.subscribe([topic])
        started = time.monotonic()
        while time.monotonic() - started < cap_s:
            msg = reader.poll(0.25)
            if msg is not None and msg.error() is None:
                return time.monotonic() - started
        return None
    finally:
        reader.close()


def test_a_restarted_scorer_fences_its_dead_predecessor_before_it_has_a_model(loop: Loop) -> None:
    kafka = loop.settings.kafka
    group = loop.settings.scorer.group_id
    topic = kafka.image_topic
    producer = make_producer(kafka)
    for i in range(20):
        producer.produce(topic, f"event-{i}".encode(), partition=0)
    assert producer.flush(10) == 0

    zombie = subprocess.run(
        [
            *(sys.executable, "-c", _ZOMBIE, kafka.bootstrap, topic, group),
            *("arena-scorer-scorer-1", str(ZOMBIE_TXN_TIMEOUT_MS)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert zombie.stdout.strip() == "pending", zombie.stderr

    # No version is promoted, so the restarted scorer never gets past waiting for a model.
    fleet = Fleet(loop.settings)
    fleet.start(1, trainer=False, evaluator=False)
    try:
        freed_s = _first_read_s(loop, topic, group, FREED_WITHIN_S)
        assert fleet.scorers[0].holder.current is None, "the scorer was meant to have no model"
    finally:
        fleet.stop()
    assert not fleet.errors, fleet.errors
    assert freed_s is not None, (
        f"partition 0 was still held by the dead scorer's transaction {FREED_WITHIN_S:.0f} s "
        "after its successor started"
    )
