"""One service loop for every service: step until stopped, backing off on retriable errors.

The scorer, the trainer and the evaluator differ only in what one step does (a Kafka
transaction over a batch, or a batch handed to a handler); shutdown, back-off and the
handling of fatal errors live here once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from confluent_kafka import Message

from arena.bus.backoff import Backoff
from arena.bus.consumer import BatchConsumer
from arena.bus.stop import StopFlag
from arena.errors import BusError
from arena.outages import outage_cause

logger = logging.getLogger(__name__)

BatchHandler = Callable[[list[Message]], None]
RetryHook = Callable[[Exception], None]


def run_until_stopped(
    stop: StopFlag,
    step: Callable[[], None],
    *,
    backoff: Backoff | None = None,
    on_retry: RetryHook | None = None,
) -> None:
    """Call ``step`` until ``stop`` is set.

    A retriable BusError, or an outage of a server (PostgreSQL, the object store: see
    ``arena.outages``), is logged, reported to ``on_retry`` and retried after an exponential
    back-off (cut short by ``stop``); anything else is raised, since only a new client, or
    a new process, can recover from it.
    """
    backoff = backoff or Backoff()
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
            logger.warning("batch failed, retrying in %.2fs: %s", delay, outage_cause(exc) or exc)
            if on_retry is not None:
                on_retry(exc)
            stop.wait(delay)
            continue
        backoff.reset()


class BatchLoop:
    """Consumes batches of up to ``batch_size`` messages (waiting ``batch_timeout_s`` at
    most) and hands each to a handler; with no message, calls ``on_idle`` instead.

    Offsets are the handler's business: it commits once its work is durable.
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
    ) -> None:
        """Consume and handle batches until ``stop`` is set (see ``run_until_stopped``)."""

        def step() -> None:
            messages = self._consumer.consume(self._batch_size, self._batch_timeout_s)
            if messages:
                handler(messages)
            elif on_idle is not None:
                on_idle()

        run_until_stopped(stop, step, backoff=backoff, on_retry=on_retry)
