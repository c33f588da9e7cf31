"""A real scorer's heartbeat on the real stack: it repeats its latest status, marked as a
heartbeat, the fleet view sees it as fresh, and once the scorer stops it goes stale."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from arena.api.fleet import FleetView
from arena.config import with_overrides
from arena.demo.fleet import Fleet
from arena.events import ScorerStatus, decode_scorer_status, is_heartbeat

from .conftest import Loop, Models

HEARTBEAT_S = 0.5


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.1)


class StatusReader:
    """Every record of the status topic so far, with whether it is a heartbeat."""

    def __init__(self, loop: Loop) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": loop.settings.kafka.bootstrap,
                "group.id": f"test-heartbeat-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
            }
        )
        topic = loop.settings.kafka.scorer_status_topic
        self._consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        self.records: list[tuple[ScorerStatus, bool]] = []

    def read(self) -> list[tuple[ScorerStatus, bool]]:
        for msg in self._consumer.consume(1000, 0.2):
            if msg.error() is None:
                status = decode_scorer_status(msg.value())
                self.records.append((status, is_heartbeat(msg.headers())))
        return self.records

    def close(self) -> None:
        self._consumer.close()


def test_a_scorer_beats_while_it_serves_and_goes_stale_once_stopped(
    loop: Loop, models: Models
) -> None:
    v1 = loop.register(models.good)
    loop.control.promote(v1.id, reason="initial", actor="test")
    settings = with_overrides(loop.settings, scorer={"heartbeat_s": HEARTBEAT_S})
    view = FleetView(settings.kafka, settings.scorer.group_id, ttl_s=0, heartbeat_s=HEARTBEAT_S)
    reader = StatusReader(loop)
    fleet = Fleet(settings)
    fleet.start(1, trainer=False, evaluator=False)
    try:
        wait_for(lambda: sum(beat for _, beat in reader.read()) >= 3, 120, "three heartbeats")
        records = reader.read()
        change, was_heartbeat = records[0]
        assert not was_heartbeat, "the first status is the change: serving v1"
        assert (change.scorer_id, change.version, change.state) == ("scorer-1", v1.id, "serving")
        beats = [s for s, beat in records if beat]
        assert {(s.scorer_id, s.version, s.state, s.error) for s in beats} == {
            ("scorer-1", v1.id, "serving", "")
        }
        stamps = [change.timestamp_ms] + [s.timestamp_ms for s in beats]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)

        state = view.state()
        assert [s.scorer_id for s in state.scorers] == ["scorer-1"]
        assert state.stale_ids() == frozenset()
    finally:
        stopping = time.monotonic()
        fleet.stop()
        stopped_in = time.monotonic() - stopping
    assert not fleet.errors, fleet.errors
    assert stopped_in < 10, f"the scorer took {stopped_in:.1f} s to stop"

    time.sleep(0.5)  # the producer's last records land
    last = len(reader.read())
    time.sleep(4 * HEARTBEAT_S)
    assert len(reader.read()) == last, "a heartbeat after the scorer stopped"
    reader.close()
    assert view.state().stale_ids() == {"scorer-1"}
