"""The model reloader never dies: refused loads, retried loads, malformed control records,
catch-up that ends at the end of the partition, and what it shows to /healthz."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError

from arena.bus.backoff import Backoff
from arena.config import KafkaSettings
from arena.errors import ArtifactIntegrityError
from arena.events import ModelEvent, ModelEventKind, ScorerStatus, encode_model_event
from scorer.champion import ChampionHolder
from scorer.reload import ModelReloader
from storage.model_loader import LoadedModel

SHA = "ab" * 32


def event(version: int) -> ModelEvent:
    return ModelEvent(ModelEventKind.PROMOTED, version, f"s3://m/sha256/{SHA}", SHA, "river")


@dataclass
class Record:
    value_: bytes | None = None
    error_: KafkaError | None = None

    def error(self) -> KafkaError | None:
        return self.error_

    def value(self) -> bytes | None:
        return self.value_


EOF_RECORD = Record(error_=KafkaError(KafkaError._PARTITION_EOF))


@dataclass
class ControlTopic:
    """A control consumer: hands out ``batches`` one per consume, then nothing."""

    batches: list[list[Record]]
    closed: int = 0

    def consume(self, num_messages: int, timeout: float) -> list[Record]:
        if self.batches:
            return self.batches.pop(0)
        time.sleep(min(timeout, 0.01))
        return []

    def close(self) -> None:
        self.closed += 1


def good(version: int) -> Record:
    return Record(encode_model_event(event(version)))


def malformed_version() -> Record:
    doc = json.loads(encode_model_event(event(3)))
    doc["version"] = "x"
    return Record(json.dumps(doc).encode())


@dataclass
class Harness:
    topic: ControlTopic
    load: Callable[[ModelEvent], LoadedModel]
    fallback: Callable[[], ModelEvent | None] | None = None
    holder: ChampionHolder = field(default_factory=ChampionHolder)
    reports: list[ScorerStatus] = field(default_factory=list)

    def start(self) -> ModelReloader:
        reloader = ModelReloader(
            KafkaSettings(),
            self.holder,
            self.load,
            self.reports.append,
            "s1",
            fallback=self.fallback,
            make_consumer=lambda: self.topic,  # type: ignore[arg-type,return-value]
            retry=Backoff(initial_s=0.01, max_s=0.05),
        )
        reloader.start()
        return reloader


def model(version: int) -> LoadedModel:
    return LoadedModel(version, "river", SHA, None)  # type: ignore[arg-type]


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_catch_up_ends_at_the_end_of_partition_and_loads_only_the_last_announcement() -> None:
    loaded: list[int] = []

    def load(e: ModelEvent) -> LoadedModel:
        loaded.append(e.version)
        return model(e.version)

    # The end comes after the last record (a transaction marker is not delivered): no record
    # tells the reloader where the end is, only the end-of-partition event does.
    h = Harness(ControlTopic([[good(1), good(2)], [EOF_RECORD]]), load)
    reloader = h.start()
    try:
        assert reloader.caught_up.wait(5)
        assert loaded == [2]
        assert "announced 2, serving 2 (native)" in reloader.describe()
    finally:
        reloader.stop()
        reloader.join(5)


def test_infrastructure_failures_are_retried_until_the_load_succeeds() -> None:
    attempts: list[int] = []

    def load(e: ModelEvent) -> LoadedModel:
        attempts.append(e.version)
        if len(attempts) < 3:
            raise RuntimeError("psycopg.OperationalError: connection refused")  # PostgreSQL down
        return model(e.version)

    h = Harness(ControlTopic([[good(4), EOF_RECORD]]), load)
    reloader = h.start()
    try:
        wait_for(lambda: h.holder.current is not None)
        assert attempts == [4, 4, 4]
        assert reloader.is_alive() and reloader.counters.retries == 2
        assert h.reports == []  # not refused: it was never the artifact's fault
    finally:
        reloader.stop()
        reloader.join(5)


def test_a_bad_artifact_is_refused_once_and_not_retried() -> None:
    attempts: list[int] = []

    def load(e: ModelEvent) -> LoadedModel:
        attempts.append(e.version)
        raise ArtifactIntegrityError("sha256 mismatch")

    h = Harness(ControlTopic([[good(5), EOF_RECORD]]), load)
    reloader = h.start()
    try:
        wait_for(lambda: bool(h.reports))
        time.sleep(0.2)  # several retry periods: none may happen
        assert attempts == [5]
        assert [(r.version, r.state) for r in h.reports] == [(5, "load_failed")]
        assert reloader.describe().startswith("refused version 5: sha256 mismatch")
    finally:
        reloader.stop()
        reloader.join(5)


def test_a_malformed_last_record_falls_back_to_the_registry_and_says_so() -> None:
    loaded: list[int] = []

    def load(e: ModelEvent) -> LoadedModel:
        loaded.append(e.version)
        return model(e.version)

    asked: list[int] = []

    def registry() -> ModelEvent | None:
        asked.append(1)
        if len(asked) == 1:
            raise OSError("registry unreachable")  # retried, not fatal
        return event(7)

    h = Harness(ControlTopic([[good(2), malformed_version(), EOF_RECORD]]), load, registry)
    reloader = h.start()
    try:
        wait_for(lambda: h.holder.current is not None)
        assert loaded == [7]  # not version 2, which the malformed record superseded
        assert reloader.counters.invalid_events == 1
        assert "announced 7 (from the registry: the last control record is malformed)" in (
            reloader.describe()
        )
        assert reloader.is_alive()
    finally:
        reloader.stop()
        reloader.join(5)


def test_a_failing_control_consumer_is_rebuilt_and_the_reloader_lives_on() -> None:
    topics = [ControlTopic([]), ControlTopic([[good(3), EOF_RECORD]])]
    made: list[Any] = []

    def make() -> Any:
        topic = topics.pop(0)
        made.append(topic)
        if len(made) == 1:
            raise RuntimeError("broker gone")
        return topic

    holder = ChampionHolder()
    reloader = ModelReloader(
        KafkaSettings(),
        holder,
        lambda e: model(e.version),
        lambda s: None,
        "s1",
        make_consumer=make,
    )
    reloader.start()
    try:
        wait_for(lambda: holder.current is not None, timeout_s=5)
        assert reloader.failure is None and reloader.is_alive()
    finally:
        reloader.stop()
        reloader.join(5)
