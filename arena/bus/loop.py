"""One service loop for every service: step until stopped, backing off on retriable errors.

The scorer, the trainer and the evaluator differ only in what one step does (a Kafka
transaction over a batch, or a batch handed to a handler); shutdown, back-off, the handling
of fatal errors and what health sees live here once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Message

from arena.bus.backoff import Backoff
from arena.bus.consumer import BatchConsumer, ConsumerFatal
from arena.bus.stop import StopFlag
from arena.errors import BusError
from arena.outages import outage_cause

logger = logging.getLogger(__name__)

BatchHandler = Callable[[list[Message]], None]
RetryHook = Callable[[Exception], None]

# Retry quickly, and never sleep so long that a broker back from a bounce waits for us.
LOOP_BACKOFF_INITIAL_S = 0.2
LOOP_BACKOFF_MAX_S = 5.0


class LoopHealth:
    """What the service loop is doing, for health endpoints: when it last went round, and
    ``ok`` or ``degraded: <cause>`` (the last step failed and is being retried)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_beat = time.monotonic()
        self._cause: str | None = None

    def beat(self) -> None:
        """The loop went round (whatever the outcome)."""
        with self._lock:
            self._last_beat = time.monotonic()

    def degraded(self, cause: str) -> None:
        with self._lock:
            self._last_beat = time.monotonic()
            self._cause = cause

    def recovered(self) -> None:
        with self._lock:
            self._last_beat = time.monotonic()
            self._cause = None

    def seconds_since_beat(self) -> float:
        with self._lock:
            return time.monotonic() - self._last_beat

    @property
    def state(self) -> str:
        """``ok``, or ``degraded: <cause>`` while a failure is being retried."""
        with self._lock:
            return "ok" if self._cause is None else f"degraded: {self._cause}"


def run_until_stopped(
    stop: StopFlag,
    step: Callable[[], None],
    *,
    backoff: Backoff | None = None,
    on_retry: RetryHook | None = None,
    health: LoopHealth | None = None,
) -> None:
    """Call ``step`` until ``stop`` is set.

    A retriable BusError, or an outage of a server (PostgreSQL, the object store: see
    ``arena.outages``), is logged, shown by ``health`` as ``degraded: <cause>``, reported to
    ``on_retry`` and retried after a bounded exponential back-off (cut short by ``stop``); a
    step that succeeds makes ``health`` ``ok`` again. Anything else is raised, since only a
    new process can recover from it. Each step's blocking calls are bounded (the call
    timeout), so ``stop`` is seen within one of them.
    """
    backoff = backoff or Backoff(initial_s=LOOP_BACKOFF_INITIAL_S, max_s=LOOP_BACKOFF_MAX_S)
    health = health or LoopHealth()
    while not stop.is_set():
        try:
            step()
        except Exception as exc:
            retriable = (
                exc.retriable if isinstance(exc, BusError) else outage_cause(exc) is not None
            )
            if not retriable:
                raise
            delay = backoff.next_delay()
            cause = outage_cause(exc) or str(exc)
            logger.warning("batch failed, retrying in %.2fs: %s", delay, cause)
            health.degraded(cause)
            if on_retry is not None:
                on_retry(exc)
            stop.wait(delay)
            continue
        backoff.reset()
        health.recovered()


class BatchLoop:
    """Consumes batches of up to ``batch_size`` messages (waiting ``batch_timeout_s`` at
    most) and hands each to a handler; with no message, calls ``on_idle`` instead.

    Offsets are the handler's business: it commits once its work is durable. A consumer
    that turns fatal is rebuilt and resumes from the committed offsets.
    """

    def __init__(self, consumer: BatchConsumer, *, batch_size: int, batch_timeout_s: float):
        if batch_size < 1 or batch_timeout_s <= 0:
            raise ValueError("batch_size must be >= 1 and batch_timeout_s > 0")
        self._consumer = consumer
        self._batch_size = batch_size
        self._batch_timeout_s = batch_timeout_s

    def run(
        self,
        stop: StopFlag,
        handler: BatchHandler,
        *,
        on_idle: Callable[[], None] | None = None,
        backoff: Backoff | None = None,
        on_retry: RetryHook | None = None,
        health: LoopHealth | None = None,
    ) -> None:
        """Consume and handle batches until ``stop`` is set (see ``run_until_stopped``)."""

        def step() -> None:
            try:
                messages = self._consumer.consume(self._batch_size, self._batch_timeout_s)
            except ConsumerFatal as exc:
                self._consumer.rebuild()
                raise BusError(f"{exc}; consumer rebuilt", retriable=True) from exc
            if messages:
                handler(messages)
            elif on_idle is not None:
                on_idle()

        run_until_stopped(stop, step, backoff=backoff, on_retry=on_retry, health=health)
