"""A broker killed (-9) and restarted under a running transactional processor: the loop
reports degraded, recovers on its own, and every input is output exactly once.

The broker is a private one started by the fixture (ports 39192/39193), never the shared stack.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Message

from arena.bus.consumer import BatchConsumer
from arena.bus.loop import LoopHealth
from arena.bus.producer import make_producer
from arena.bus.records import BatchResult, OutRecord
from arena.bus.stop import StopFlag
from arena.bus.topics import TopicSpec, ensure_topics
from arena.bus.transactional import TransactionalProcessor
from arena.config import KafkaSettings, StackSettings
from arena.stack.kafka import KafkaServer
from tests.integration.bus.conftest import produce_raw, read_topic, unique

PORT = 23192  # below the ephemeral ports (32768-60999): no client socket holds it
STATE = Path("/var/tmp/arena-bus-bounce")


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaServer]:
    kafka = KafkaSettings(bootstrap=f"127.0.0.1:{PORT}", call_timeout_ms=3000)
    stack = StackSettings(state_dir=STATE, kafka_controller_port=PORT + 1, kafka_heap_mb=384)
    server = KafkaServer(kafka, stack)
    server.install()
    if not server.process.pid():
        server.start()
    server.wait_ready(120)
    yield server
    server.stop()


def kill_and_restart(server: KafkaServer, down_s: float, killed: threading.Event) -> None:
    pid = server.process.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    killed.set()
    time.sleep(down_s)
    server.start()
    server.wait_ready(120)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # the fixture may have started it: reap the zombie
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_broker_bounce_is_survived_exactly_once(broker: KafkaServer) -> None:
    kafka = broker.kafka
    source, out = unique("test.bounce.in"), unique("test.bounce.out")
    ensure_topics(kafka, [TopicSpec(source, 2), TopicSpec(out, 2)])
    n = 3000
    produce_raw(kafka, source, [(f"k{i}".encode(), f"v{i}".encode()) for i in range(n)])
    consumer = BatchConsumer(kafka, unique("bounce"), unique("member"))
    consumer.subscribe([source])
    txn_id = unique("bounce-txn")
    health = LoopHealth()
    states: list[str] = []
    processed = 0
    last_commit = [time.monotonic()]

    in_handler, killed = threading.Event(), threading.Event()

    def handle(batch: list[Message]) -> BatchResult:
        if processed >= 5 and not killed.is_set():
            in_handler.set()  # this batch's transaction goes to a dead broker
            killed.wait(30)
        return BatchResult(outputs=[OutRecord(out, m.key(), m.value()) for m in batch])

    def on_commit(stats: object) -> None:
        nonlocal processed
        processed += 1
        last_commit[0] = time.monotonic()

    processor = TransactionalProcessor(
        consumer, lambda: make_producer(kafka, transactional_id=txn_id), kafka, on_commit=on_commit
    )
    stop = StopFlag(exit_deadline_s=None)
    runner = threading.Thread(
        target=processor.run,
        args=(stop, handle),
        kwargs={
            "batch_size": 50,
            "batch_timeout_s": 0.05,
            "health": health,
            "on_retry": lambda e: states.append(health.state),
        },
        daemon=True,
    )
    runner.start()
    try:
        assert in_handler.wait(60), "no batch committed before the bounce"
        kill_and_restart(broker, down_s=5.0, killed=killed)
        back = time.monotonic()
        deadline = back + 90
        while last_commit[0] < back:
            assert time.monotonic() < deadline, (
                f"no commit after the bounce; health: {health.state}"
            )
            time.sleep(0.1)
        resumed_s = last_commit[0] - back
        outputs = read_topic(kafka, out, at_least=n, timeout_s=120)
    finally:
        stop.set()
        runner.join(30)
        consumer.close()
    assert not runner.is_alive()
    assert states, "the outage was never reported to health"
    assert any(s.startswith("degraded: ") for s in states)
    values = sorted(m.value() or b"" for m in outputs)
    assert values == sorted(f"v{i}".encode() for i in range(n))  # each once: none lost, none twice
    print(f"resumed {resumed_s:.1f}s after the broker was back; states: {states[:3]}")
