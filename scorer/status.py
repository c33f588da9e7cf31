"""The scorer's status on the scorer-status topic: each change at once, then a heartbeat.

A change (now serving a version, refusing one, a model that outputs NaN) is published when
it happens. Every ``ARENA_SCORER_HEARTBEAT_S`` the latest status is published again with a
fresh ``timestamp_ms`` and the header ``status.kind: heartbeat``, so the fleet's "last seen"
is the last heartbeat and a scorer that stopped shows as stale.

Publishing never blocks or raises into its caller (the scoring loop, the reloader): the
producer's queue is asynchronous and bounded, any failure is logged and counted, and the
next beat sends the latest status again (as a change if the change itself did not go out).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import KafkaError, Message

from arena.events import HEARTBEAT_HEADERS, ScorerStatus, encode_scorer_status, now_ms

log = logging.getLogger(__name__)

DeliveryCallback = Callable[[KafkaError | None, Message], None]


class StatusProducer(Protocol):
    """What the reporter uses of a confluent-kafka Producer (tests fake it)."""

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes,
        *,
        on_delivery: DeliveryCallback | None = None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None: ...

    def poll(self, timeout: float) -> int: ...


class StatusReporter:
    """Publishes a scorer's status changes and, on ``beat()``, repeats the latest one.

    Thread-safe: the scoring loop, the reloader and the heartbeat thread all call it.
    """

    def __init__(
        self,
        producer: StatusProducer,
        topic: str,
        on_failure: Callable[[], None],
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._on_failure = on_failure
        self._clock = clock
        # Reentrant: a delivery report may arrive inside ``poll`` while the lock is held.
        self._lock = threading.RLock()
        self._latest: ScorerStatus | None = None
        self._change_pending = False  # the latest change did not reach the broker yet

    @property
    def latest(self) -> ScorerStatus | None:
        with self._lock:
            return self._latest

    def report(self, status: ScorerStatus) -> None:
        """A change: it becomes the latest status and is published now."""
        with self._lock:
            self._latest = status
            self._change_pending = not self._publish(status, heartbeat=False)

    def beat(self) -> bool:
        """Publish the latest status again, stamped now; False before any, or on failure.

        A change that failed to go out is sent again as a change, not as a heartbeat, so a
        reader following changes sees it.
        """
        with self._lock:
            if self._latest is None:
                return False
            status = dataclasses.replace(self._latest, timestamp_ms=self._clock())
            heartbeat = not self._change_pending
            sent = self._publish(status, heartbeat=heartbeat)
            if sent and not heartbeat:
                self._change_pending = False
            return sent

    def _publish(self, status: ScorerStatus, *, heartbeat: bool) -> bool:
        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                self._failed(status, heartbeat, f"not delivered: {err}")

        try:
            self._producer.produce(
                self._topic,
                encode_scorer_status(status),
                status.scorer_id.encode(),
                on_delivery=delivered,
                headers=HEARTBEAT_HEADERS if heartbeat else None,
            )
            self._producer.poll(0)
        except Exception as exc:  # a status must never take the scoring loop down
            self._failed(status, heartbeat, f"{type(exc).__name__}: {exc}")
            return False
        return True

    def _failed(self, status: ScorerStatus, heartbeat: bool, why: str) -> None:
        self._on_failure()
        log.warning(
            "status %s of %s (version %d) %s; the next heartbeat sends the latest status",
            "heartbeat" if heartbeat else status.state,
            status.scorer_id,
            status.version,
            why,
        )
        if not heartbeat:
            with self._lock:
                if self._latest is not None and _same_state(self._latest, status):
                    self._change_pending = True


def _same_state(a: ScorerStatus, b: ScorerStatus) -> bool:
    return (a.scorer_id, a.version, a.state, a.error) == (b.scorer_id, b.version, b.state, b.error)


class StatusHeartbeat:
    """A daemon thread that calls ``reporter.beat()`` every ``interval_s`` seconds.

    It beats only while ``alive()`` (the scoring loop still goes round: a stuck loop's scorer
    goes stale) and never once ``stopped()`` (SIGTERM); ``close()`` ends it at once.
    """

    def __init__(
        self,
        reporter: StatusReporter,
        interval_s: float,
        alive: Callable[[], bool],
        stopped: Callable[[], bool],
    ) -> None:
        self._reporter = reporter
        self._interval_s = interval_s
        self._alive = alive
        self._stopped = stopped
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout_s: float = 1.0) -> None:
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._halt.wait(self._interval_s):
            if self._stopped():
                return
            if self._alive():
                self._reporter.beat()
            else:
                log.warning("the scoring loop is stuck: no status heartbeat")
