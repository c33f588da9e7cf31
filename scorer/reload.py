"""Follow the control topic and prepare each newly announced model in the background.

The control topic is compacted and keyed, so its tail is the version to serve. At start the
reloader reads it to the end and loads only the last announcement; afterwards it loads each
new one as it arrives. Loading = download, verify the sha256 against the registry, load,
warm up, stage. A failure keeps the current model serving and is reported (log, metric,
ScorerStatus event); it never crashes the scorer.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from arena.bus.backoff import Backoff
from arena.bus.broker_log import kafka_error_of, log_broker_error
from arena.config import KafkaSettings
from arena.errors import ArenaError, InvalidEvent
from arena.events import ModelEvent, ScorerStatus, decode_model_event
from scorer.champion import ChampionHolder
from storage.model_loader import LoadedModel

log = logging.getLogger(__name__)

Loader = Callable[[ModelEvent], LoadedModel]
StatusSink = Callable[[ScorerStatus], None]


@dataclass
class ReloadCounters:
    loaded: int = 0
    failed: int = 0
    invalid_events: int = 0
    last_error: str = ""


class ModelReloader(threading.Thread):
    """Background thread: control topic → loaded model staged in the ChampionHolder."""

    def __init__(
        self,
        kafka: KafkaSettings,
        holder: ChampionHolder,
        load: Loader,
        report: StatusSink,
        scorer_id: str,
        on_failure: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(name="model-reloader", daemon=True)
        self._kafka = kafka
        self._holder = holder
        self._load = load
        self._report = report
        self._scorer_id = scorer_id
        self._on_failure = on_failure
        self._halt = threading.Event()
        self.caught_up = threading.Event()
        self.failure: BaseException | None = None
        self.counters = ReloadCounters()

    def stop(self) -> None:
        self._halt.set()

    def _consumer(self) -> Consumer:
        consumer = Consumer(
            {
                "bootstrap.servers": self._kafka.bootstrap,
                # Never commits: every scorer reads the whole compacted topic from the start.
                "group.id": f"arena-control-{self._scorer_id}-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "error_cb": log_broker_error,
            }
        )
        consumer.assign([TopicPartition(self._kafka.model_topic, 0, OFFSET_BEGINNING)])
        return consumer

    def run(self) -> None:
        try:
            self._follow()
        except BaseException as exc:
            self.failure = exc  # the scoring loop re-raises it; a dead reloader must not hide
            log.exception("the model reloader stopped")
            raise

    def _end_offset(self, consumer: Consumer) -> int:
        """The control topic's end, retrying while a just-created topic has no leader yet."""
        backoff = Backoff(initial_s=0.1, max_s=2.0)
        while True:
            try:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(self._kafka.model_topic, 0), timeout=10
                )
                return int(high)
            except KafkaException as exc:
                error = kafka_error_of(exc)
                if error is None or error.fatal() or self._halt.is_set():
                    raise
                log.warning("control topic not ready (%s); retrying", error)
                self._halt.wait(backoff.next_delay())

    def _follow(self) -> None:
        consumer = self._consumer()
        try:
            high = self._end_offset(consumer)
            latest: ModelEvent | None = None
            position = 0
            while not self._halt.is_set():
                messages = consumer.consume(num_messages=100, timeout=0.2)
                for msg in messages:
                    if msg.error():
                        log.error("control topic error: %s", msg.error())
                        continue
                    position = (msg.offset() or 0) + 1
                    latest = self._decode(msg.value()) or latest
                if not self.caught_up.is_set() and position < high:
                    continue  # still replaying history: only the last announcement matters
                if latest is not None:
                    self.apply(latest)
                    latest = None
                self.caught_up.set()
        finally:
            consumer.close()

    def _decode(self, value: bytes | None) -> ModelEvent | None:
        try:
            return decode_model_event(value)
        except InvalidEvent as exc:
            self.counters.invalid_events += 1
            log.error("ignoring malformed control event: %s", exc.reason)
            return None

    def apply(self, event: ModelEvent) -> bool:
        """Load the announced version unless it is already served or staged."""
        if event.version == self._holder.wanted_version():
            return False
        log.info("control: %s version %d (%s); loading", event.kind, event.version, event.reason)
        try:
            model = self._load(event)
        except (ArenaError, OSError, ValueError) as exc:
            self.counters.failed += 1
            self.counters.last_error = str(exc)
            self._on_failure()
            log.error("refused model version %d, keeping the current one: %s", event.version, exc)
            self._report(ScorerStatus(self._scorer_id, event.version, "load_failed", str(exc)))
            return False
        self._holder.stage(model)
        self.counters.loaded += 1
        return True
