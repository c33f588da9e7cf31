"""Follow the control topic and prepare each newly announced model in the background.

The control topic is compacted and keyed, so its tail is the version to serve. At start the
reloader reads it to its end (the end of partition, so a trailing transaction marker does not
hide it) and loads only the last announcement; afterwards it loads each new one as it arrives.
Loading = download, verify the sha256 against the registry, load, warm up, stage.

The reloader never dies, and never lets the scorer stop serving:

- a bad artifact or announcement (checksum mismatch, corrupt bytes, unknown version or
  flavor) is refused: reported ``load_failed`` (log, metric, ScorerStatus event), not retried
  until announced again; the current model keeps serving;
- unreachable infrastructure (PostgreSQL, MinIO down) or any unexpected error: the load is
  retried with a back-off until it succeeds or a newer announcement replaces it;
- a malformed control record, or an empty topic, sends the reloader to the registry's
  serving version (``fallback``), and says so in its state;
- a failing control-topic consumer is rebuilt after a back-off, and the topic replayed.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from arena.bus.backoff import Backoff
from arena.bus.bounded import run_bounded
from arena.bus.broker_log import log_broker_error
from arena.config import KafkaSettings
from arena.errors import ArenaError, InvalidEvent
from arena.events import ModelEvent, ModelEventKind, ScorerStatus, decode_model_event
from arena.outages import outage_cause
from scorer.champion import ChampionHolder
from storage.model_loader import LoadedModel

log = logging.getLogger(__name__)

Loader = Callable[[ModelEvent], LoadedModel]
StatusSink = Callable[[ScorerStatus], None]
Fallback = Callable[[], ModelEvent | None]  # the registry's serving version, as an event

# A load refused for good: the artifact or the announcement is wrong, trying again cannot help.
REFUSED = (ArenaError, ValueError)


class ControlMessage(Protocol):
    def error(self) -> KafkaError | None: ...
    def value(self) -> bytes | None: ...


class ControlConsumer(Protocol):
    """What the reloader uses of a confluent-kafka Consumer (tests fake it)."""

    def consume(self, num_messages: int, timeout: float) -> list[ControlMessage]: ...
    def close(self) -> None: ...


class VersionRecord(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def flavor(self) -> str: ...
    @property
    def artifact(self) -> ArtifactRecord: ...


class ArtifactRecord(Protocol):
    @property
    def uri(self) -> str: ...
    @property
    def sha256(self) -> str: ...


class ServingRegistry(Protocol):
    def serving_version(self) -> VersionRecord | None: ...


def registry_fallback(registry: ServingRegistry) -> Fallback:
    """The registry's serving version (pin, else champion) as the event the reloader applies."""

    def serving() -> ModelEvent | None:
        version = registry.serving_version()
        if version is None:
            return None
        return ModelEvent(
            ModelEventKind.PROMOTED,
            version.id,
            version.artifact.uri,
            version.artifact.sha256,
            version.flavor,
            reason="the registry's serving version",
            actor="scorer",
        )

    return serving


@dataclass
class ReloadCounters:
    loaded: int = 0
    failed: int = 0
    retries: int = 0
    invalid_events: int = 0
    fallbacks: int = 0
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
        *,
        fallback: Fallback | None = None,
        make_consumer: Callable[[], ControlConsumer] | None = None,
        retry: Backoff | None = None,
    ) -> None:
        super().__init__(name="model-reloader", daemon=True)
        self._kafka = kafka
        self._holder = holder
        self._load = load
        self._report = report
        self._scorer_id = scorer_id
        self._on_failure = on_failure
        self._fallback = fallback
        self._make_consumer = make_consumer or self._consumer
        # At most 5 s between two tries: a load waiting out an outage lands soon after it ends.
        self._retry_backoff = retry or Backoff(initial_s=0.5, max_s=5.0)
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._state = "replaying the control topic"
        self._announced: str = "none"
        self._retry: Callable[[], object] | None = None
        self._retry_at = 0.0
        self.caught_up = threading.Event()
        self.failure: BaseException | None = None  # only a BaseException (never an error) ends it
        self.counters = ReloadCounters()

    def stop(self) -> None:
        self._halt.set()

    def describe(self) -> str:
        """One line for /healthz: the reloader's state, the announced and the served version."""
        with self._lock:
            state, announced = self._state, self._announced
        current = self._holder.current
        serving = f"{current.version} ({current.runtime})" if current is not None else "none"
        if self.ident is not None and not self.is_alive():
            state = f"stopped ({state})"
        return f"{state}; announced {announced}, serving {serving}"

    def _set_state(self, state: str) -> None:
        with self._lock:
            self._state = state

    def _consumer(self) -> ControlConsumer:
        consumer = Consumer(
            {
                **self._kafka.client_config(),
                # Never commits: every scorer reads the whole compacted topic from the start.
                "group.id": f"arena-control-{self._scorer_id}-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                # The end of the replay: reached even when the last offset is a commit marker.
                "enable.partition.eof": True,
                "error_cb": log_broker_error,
            }
        )
        consumer.assign([TopicPartition(self._kafka.model_topic, 0, OFFSET_BEGINNING)])
        return consumer  # type: ignore[return-value]  # Message satisfies ControlMessage

    def run(self) -> None:
        backoff = Backoff(initial_s=0.5, max_s=10.0)
        try:
            while not self._halt.is_set():
                try:
                    self._follow()
                except Exception as exc:  # never dies: rebuild the consumer and replay
                    delay = backoff.next_delay()
                    log.exception("control topic reader failed; replaying in %.1fs", delay)
                    self._set_state(f"control topic reader failed ({exc}); retrying")
                    self._halt.wait(delay)
                else:
                    backoff.reset()
        except BaseException as exc:
            self.failure = exc  # the scoring loop re-raises it; a dead reloader must not hide
            log.exception("the model reloader stopped")
            raise

    def _follow(self) -> None:
        consumer = self._make_consumer()
        try:
            latest: ModelEvent | None = None
            malformed = False  # is the last record read malformed?
            replaying = True
            while not self._halt.is_set():
                self._retry_if_due()
                at_end = False
                for msg in consumer.consume(100, 0.2):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            at_end = True
                        elif err.fatal():
                            raise KafkaException(err)
                        else:
                            log.error("control topic error: %s", err)
                        continue
                    event = self._decode(msg.value())
                    latest, malformed = (latest, True) if event is None else (event, False)
                if replaying and not at_end:
                    continue  # still replaying history: only the last announcement matters
                if replaying:
                    replaying = False
                    self._set_state("following the control topic")
                if malformed:
                    self._fall_back("the last control record is malformed")
                elif latest is not None:
                    self.apply(latest)
                elif not self.caught_up.is_set():
                    self._fall_back("the control topic is empty")
                latest, malformed = None, False
                self.caught_up.set()
        finally:
            run_bounded(consumer.close, self._kafka.call_timeout_s, "close of the control consumer")

    def _decode(self, value: bytes | None) -> ModelEvent | None:
        try:
            return decode_model_event(value)
        except InvalidEvent as exc:
            self.counters.invalid_events += 1
            log.error("ignoring malformed control event: %s", exc.reason)
            return None

    def apply(self, event: ModelEvent) -> bool:
        """Load the announced version unless it is already served or staged; whether staged.

        A newer announcement replaces a load that is waiting to be retried.
        """
        with self._lock:
            self._announced = str(event.version)
        self._retry = None
        return self._try_load(event)

    def _try_load(self, event: ModelEvent) -> bool:
        if event.version == self._holder.wanted_version():
            self._set_state("following the control topic")
            return False
        log.info("control: %s version %d (%s); loading", event.kind, event.version, event.reason)
        try:
            model = self._load(event)
        except Exception as exc:
            if isinstance(exc, REFUSED) and outage_cause(exc) is None:
                self._refuse(event, exc)
                return False
            # Infrastructure (PostgreSQL or MinIO unreachable) or unexpected: try again.
            self._retry_later(
                lambda: self._try_load(event), f"loading version {event.version}", exc
            )
            return False
        self._retry_backoff.reset()
        self._holder.stage(model)
        self.counters.loaded += 1
        self._set_state("following the control topic")
        return True

    def _refuse(self, event: ModelEvent, exc: Exception) -> None:
        self._retry_backoff.reset()
        self.counters.failed += 1
        self.counters.last_error = str(exc)
        self._on_failure()
        log.error("refused model version %d, keeping the current one: %s", event.version, exc)
        self._set_state(f"refused version {event.version}: {exc}")
        self._report(ScorerStatus(self._scorer_id, event.version, "load_failed", str(exc)))

    def _retry_later(self, again: Callable[[], object], what: str, exc: Exception) -> None:
        delay = self._retry_backoff.next_delay()
        self.counters.retries += 1
        self.counters.last_error = str(exc)
        log.warning("%s failed, retrying in %.1fs: %r", what, delay, exc)
        self._set_state(f"retrying: {what} failed ({exc!r})")
        self._retry, self._retry_at = again, time.monotonic() + delay

    def _retry_if_due(self) -> None:
        retry = self._retry
        if retry is not None and time.monotonic() >= self._retry_at:
            self._retry = None
            retry()

    def _fall_back(self, why: str) -> None:
        """Serve the registry's serving version, since the control topic does not say."""
        if self._fallback is None:
            log.warning("%s and there is no registry to ask", why)
            return
        try:
            event = self._fallback()
        except Exception as exc:
            self._retry_later(lambda: self._fall_back(why), "asking the registry", exc)
            return
        self._retry_backoff.reset()
        if event is None:
            log.warning("%s, and the registry has no version to serve", why)
            self._set_state(f"{why}; the registry has nothing to serve")
            return
        self.counters.fallbacks += 1
        log.warning("%s: serving the registry's serving version %d", why, event.version)
        self.apply(event)
        with self._lock:
            self._announced = f"{event.version} (from the registry: {why})"
