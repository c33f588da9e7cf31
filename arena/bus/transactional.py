"""Read-process-write in one Kafka transaction: the basis of Arena's exactly-once processing.

For each batch: begin a transaction, let the handler turn messages into output records (and
name the poison ones), produce the outputs and the dead letters, add the batch's next offsets
to the transaction, commit. Outputs, dead letters and consumed offsets become visible
together or not at all.

Every call that waits on the broker is bounded by ``KafkaSettings.call_timeout_ms``, and each
failure has one recovery:

- retriable (a timeout, a coordinator moving): the same call again, within that bound;
- still failing, or abortable: abort the transaction and rewind the consumer to the start of
  the batch, which is read again after a back-off;
- fatal or fenced producer, or an abort that fails or times out (the commit's outcome is then
  unknown): drop the producer and build a new one with the same ``transactional.id`` (its
  ``init_transactions`` fences the old one and completes or aborts its transaction), then
  rewind the consumer to the group's committed offsets, the only position known to be right;
- fatal consumer: rebuild it (``BatchConsumer.rebuild``); it resumes from the committed offsets;
- a consumer that cannot read the committed offsets although the broker answers again (the
  new producer's ``init_transactions`` went through): rebuilt too, after
  ``REWIND_FAILURES_BEFORE_REBUILD`` attempts. After a broker hung by SIGSTOP, librdkafka's
  consumer can keep a dead coordinator connection and time out on every such request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import OFFSET_BEGINNING, KafkaException, Message, Producer, TopicPartition

from arena.bus.backoff import Backoff
from arena.bus.bounded import call_bounded, run_bounded
from arena.bus.broker_log import kafka_error_of
from arena.bus.consumer import BatchConsumer, ConsumerFatal
from arena.bus.dlq import PartitionCounts, dead_letter_record
from arena.bus.loop import LoopHealth, RetryHook, run_until_stopped
from arena.bus.offsets import first_offsets, next_offsets
from arena.bus.producer import TrackedProducer, close_producer
from arena.bus.records import BatchResult, BatchStats, KafkaMessage, OutRecord
from arena.bus.stop import StopFlag
from arena.config import KafkaSettings
from arena.errors import BatchAborted, BusError, InvalidEvent

__all__ = ["BatchResult", "BatchStats", "OutRecord", "ProducerFactory", "TransactionalProcessor"]

logger = logging.getLogger(__name__)

Handler = Callable[[list[Message]], BatchResult]
ProducerFactory = Callable[[], Producer]

STOPPING_CALL_S = 1.0  # once stopping, recovery calls get this long at most
REWIND_FAILURES_BEFORE_REBUILD = 2  # committed-offset reads that fail before a rebuild


@dataclass(frozen=True, slots=True)
class _Inflight:
    """A batch whose transaction is committing in the background."""

    batch: list[Message]
    result: BatchResult
    started: float
    commit: Future[None]


_T = TypeVar("_T")

# librdkafka's own timeout does not always hold (seen: send_offsets_to_transaction blocked
# for minutes after a broker kill -9, with a 5 s timeout): past the budget plus this grace,
# the call is abandoned and its producer replaced.
STUCK_GRACE_S = 2.0


class _ProducerStuck(BusError):
    """A producer call that outlived its timeout: the producer cannot be used any more."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retriable=True)


class TransactionalProcessor:
    """Runs handlers over batches from ``consumer``, each batch in one producer transaction.

    ``make_producer`` builds a producer with a ``transactional.id``
    (``lambda: make_producer(kafka, transactional_id=...)``); it is called again with the same
    id whenever the producer has to be replaced. ``on_commit`` is called with each committed
    batch's stats.
    """

    def __init__(
        self,
        consumer: BatchConsumer,
        make_producer: ProducerFactory,
        kafka: KafkaSettings,
        *,
        on_commit: Callable[[BatchStats], None] | None = None,
    ) -> None:
        self._consumer = consumer
        self._make_producer = make_producer
        self._kafka = kafka
        self._on_commit = on_commit
        self._producer: Producer | None = None  # None: (re)build and init before the next batch
        self._initializing: Producer | None = None  # an init that timed out, to be resumed
        self._rewind_to_committed = False
        self._rewind_failures = 0  # consecutive reads of the committed offsets that failed
        self._stop: StopFlag | None = None
        self.rebuilds = 0  # producers replaced since start (for health and tests)
        self._partition_counts = PartitionCounts(timeout_s=min(kafka.call_timeout_s, 2.0))

    def init(self) -> None:
        """Build the producer and register the transactional id, fencing off (and completing
        or aborting) any older instance's transaction. A retriable BusError when the broker
        cannot be reached in time: call again."""
        self._ready()

    def process_batch(self, messages: Sequence[Message], handler: Handler) -> BatchStats:
        """Process ``messages`` exactly once: outputs, dead letters and offsets in one commit.

        The handler returns poison messages in ``BatchResult.dead``; an InvalidEvent it raises
        instead makes each message be handled on its own, to find the poison ones. Any other
        failure aborts (or, if it cannot, replaces the producer) and rewinds, then raises a
        retriable BusError (BatchAborted when the abort succeeded). After one, call ``init()``
        before consuming again: it rewinds the consumer when the producer had to be replaced.
        """
        batch = list(messages)
        if not batch:
            return BatchStats(0, 0, 0, 0.0)
        rewinding = self._rewind_to_committed
        producer = self._ready()
        if rewinding:
            raise BatchAborted("the consumer was rewound to the committed offsets: consume again")
        started = time.monotonic()
        self._begin(producer)
        try:
            result = self._handle(batch, handler)
            self._send(producer, batch, result)
            self._retrying("commit transaction", producer.commit_transaction)
        except _ProducerStuck as exc:
            self._replace_producer(str(exc))  # it cannot abort: a new one fences its work
            raise
        except Exception as exc:
            raise self._abort_and_rewind(producer, batch, exc) from exc
        return self._committed(batch, result, started)

    def run(
        self,
        stop: StopFlag,
        handler: Handler,
        *,
        batch_size: int,
        batch_timeout_s: float,
        on_idle: Callable[[], None] | None = None,
        backoff: Backoff | None = None,
        on_retry: RetryHook | None = None,
        health: LoopHealth | None = None,
    ) -> None:
        """Consume and process batches until ``stop`` is set, one transaction per batch.

        Pipelined: while batch k's transaction commits (a broker round trip or three), the
        next batch is consumed and handled; its records are produced only after k's commit
        succeeded, so transactions stay strictly ordered. If k's commit fails, k is aborted
        and both batches are rewound and read again. Failures are recovered as the module
        says and retried after a bounded back-off; ``health`` shows them. On stop, the batch
        in flight is settled and the producer closed, each within the call timeout.
        """
        self._stop = stop
        inflight: _Inflight | None = None

        def step() -> None:
            nonlocal inflight
            try:
                inflight = self._step(
                    inflight, committer, handler, batch_size, batch_timeout_s, on_idle
                )
            except BusError:
                inflight = None  # aborted and rewound, or the producer replaced
                raise

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="txn-commit") as committer:
            try:
                run_until_stopped(stop, step, backoff=backoff, on_retry=on_retry, health=health)
            finally:
                try:
                    self._settle(inflight, [])
                except BusError as exc:
                    # Not committed: the group's next owner (or this id's restart) reads it again.
                    logger.warning("last batch not committed at shutdown: %s", exc)
                self.close()

    def close(self) -> None:
        """Deliver what is queued and close the producer, within the call timeout."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        close_producer(producer, self._budget())

    def _step(
        self,
        inflight: _Inflight | None,
        committer: ThreadPoolExecutor,
        handler: Handler,
        batch_size: int,
        batch_timeout_s: float,
        on_idle: Callable[[], None] | None,
    ) -> _Inflight | None:
        producer = self._ready()
        try:
            messages = self._consumer.consume(batch_size, batch_timeout_s)
        except ConsumerFatal as exc:
            try:
                self._settle(inflight, [])
            finally:
                self._consumer.rebuild()
            raise BusError(f"{exc}; consumer rebuilt", retriable=True) from exc
        if not messages:
            self._settle(inflight, [])
            producer.poll(0)  # serve error and delivery callbacks while idle
            if on_idle is not None:
                on_idle()
            return None
        batch = list(messages)
        try:
            result = self._handle(batch, handler)  # overlaps the commit in flight
        except Exception as exc:
            self._settle(inflight, batch)
            self._rewind(batch)
            raise BatchAborted(f"handler failed on a batch of {len(batch)}: {exc!r}") from exc
        self._settle(inflight, batch)
        started = time.monotonic()
        self._begin(producer)
        try:
            self._send(producer, batch, result)
        except _ProducerStuck as exc:
            self._replace_producer(str(exc))  # it cannot abort: a new one fences its work
            raise
        except Exception as exc:
            raise self._abort_and_rewind(producer, batch, exc) from exc
        commit = committer.submit(self._retrying, "commit transaction", producer.commit_transaction)
        return _Inflight(batch, result, started, commit)

    def _ready(self) -> Producer:
        """The producer, built and initialized, with the consumer where it must resume."""
        if self._producer is None:
            producer = self._initializing or self._make_producer()
            self._initializing = producer
            try:
                self._retrying("init transactions", producer.init_transactions)
            except KafkaException as exc:
                err = kafka_error_of(exc)
                if err is None or err.fatal() or not err.retriable():
                    self._initializing = None  # start over with a new producer next time
                    self._discard(producer)
                raise BusError(f"init transactions: {_describe(exc)}", retriable=True) from exc
            self._initializing = None
            self._producer = producer
            logger.info("transactional producer ready")
        if self._rewind_to_committed:
            self._rewind_committed()
        return self._producer

    def _begin(self, producer: Producer) -> None:
        try:
            producer.begin_transaction()
        except KafkaException as exc:
            self._replace_producer(f"begin transaction: {_describe(exc)}")
            raise BusError(f"begin transaction: {_describe(exc)}", retriable=True) from exc

    def _send(self, producer: Producer, batch: list[Message], result: BatchResult) -> None:
        """Produce the outputs and dead letters, and add the batch's offsets to the transaction."""
        records = result.outputs + [
            dead_letter_record(msg, reason, self._kafka, self._dlq_partitions(producer, msg))
            for msg, reason in result.dead
        ]
        for record in records:
            self._produce(producer, record)
        offsets = next_offsets(batch)
        group = self._consumer.consumer_group_metadata()
        try:
            call_bounded(
                lambda: self._retrying(
                    "send offsets",
                    lambda timeout: producer.send_offsets_to_transaction(offsets, group, timeout),
                ),
                self._budget() + STUCK_GRACE_S,
                "send offsets",
            )
        except BusError as exc:  # the bounded wait gave up: the call is stuck in the client
            raise _ProducerStuck(str(exc)) from exc

    def _dlq_partitions(self, producer: Producer, msg: KafkaMessage) -> int | None:
        topic = msg.topic()
        return (
            None
            if topic is None
            else self._partition_counts.of(producer, self._kafka.dlq_topic(topic))
        )

    def _committed(self, batch: list[Message], result: BatchResult, started: float) -> BatchStats:
        stats = BatchStats(
            n_in=len(batch),
            n_out=len(result.outputs),
            n_dead=len(result.dead),
            duration_s=time.monotonic() - started,
        )
        if result.dead:
            logger.warning("batch committed with %d dead-lettered message(s)", len(result.dead))
        if self._on_commit is not None:
            self._on_commit(stats)
        return stats

    def _settle(self, inflight: _Inflight | None, next_batch: list[Message]) -> None:
        """Wait for the transaction in flight; on failure abort it and rewind it and
        ``next_batch`` (read meanwhile, not yet produced), then raise."""
        if inflight is None:
            return
        try:
            inflight.commit.result(timeout=self._budget() + STUCK_GRACE_S)
        except FutureTimeout:
            # The commit's outcome is unknown: replace the producer (which fences and aborts
            # what is open) and resume from the committed offsets, whichever way it went.
            self._replace_producer("commit transaction did not return")
            raise _ProducerStuck("commit transaction did not return; producer replaced") from None
        except Exception as exc:
            producer = self._producer
            if producer is None:
                raise BusError(f"commit failed: {exc!r}", retriable=True) from exc
            raise self._abort_and_rewind(producer, inflight.batch + next_batch, exc) from exc
        self._committed(inflight.batch, inflight.result, inflight.started)

    def _handle(self, batch: list[Message], handler: Handler) -> BatchResult:
        try:
            return handler(batch)
        except InvalidEvent as exc:
            if len(batch) == 1:
                return BatchResult(dead=[(batch[0], exc.reason)])
            logger.warning("handler rejected a batch (%s): handling its messages one by one", exc)
        result = BatchResult()
        for msg in batch:
            try:
                one = handler([msg])
            except InvalidEvent as exc:
                result.dead.append((msg, exc.reason))
                continue
            result.outputs.extend(one.outputs)
            result.dead.extend(one.dead)
        return result

    def _produce(self, producer: Producer, record: OutRecord) -> None:
        headers: list[tuple[str, str | bytes | None]] = list(record.headers)
        partition = -1 if record.partition is None else record.partition
        deadline = time.monotonic() + self._budget()
        while True:
            try:
                producer.produce(
                    record.topic, record.value, record.key, partition=partition, headers=headers
                )
                return
            except BufferError:
                if time.monotonic() >= deadline:
                    raise
                producer.poll(0.05)  # local queue full: wait for deliveries to drain it

    def _retrying(self, what: str, call: Callable[[float], _T]) -> _T:
        """``call(timeout)``, repeated while it fails with a retriable (and not abortable)
        error, all within one call timeout; the last error is raised."""
        deadline = time.monotonic() + self._budget()
        attempt = 1
        while True:
            try:
                return call(max(deadline - time.monotonic(), 0.01))
            except KafkaException as exc:
                err = kafka_error_of(exc)
                if (
                    err is None
                    or err.fatal()
                    or err.txn_requires_abort()
                    or not err.retriable()
                    or time.monotonic() + 0.1 >= deadline
                    or self._stopping()
                ):
                    raise
                logger.warning("%s failed (attempt %d, retrying): %s", what, attempt, err)
                attempt += 1
                time.sleep(0.1)  # the coordinator may be moving: a breath before asking again

    def _abort_and_rewind(
        self, producer: Producer, batch: list[Message], cause: Exception
    ) -> BusError:
        """Abort the open transaction and rewind; return the error the caller should see.

        When the transaction cannot be aborted (a fatal or fenced producer, an abort that
        fails or times out), the producer is replaced and the consumer rewound to the
        committed offsets before the next batch.
        """
        err = kafka_error_of(cause) if isinstance(cause, KafkaException) else None
        if err is not None and err.fatal():
            self._replace_producer(f"fatal producer error: {err.str()} ({err.name()})")
            return BusError(f"fatal producer error, producer rebuilt: {err.str()}", retriable=True)
        logger.warning("aborting transaction of %d message(s): %r", len(batch), cause)
        # Let in-flight records land (as aborted) first: aborting while the first produce of
        # a transaction is in flight can fail fatally (librdkafka#4849).
        remaining = producer.flush(self._budget())
        if remaining:
            logger.warning("%d record(s) still in flight when aborting", remaining)
        try:
            self._retrying("abort transaction", producer.abort_transaction)
        except KafkaException as exc:
            self._replace_producer(f"abort transaction: {_describe(exc)}")
            return BusError(
                f"could not abort ({_describe(exc)}) after {cause!r}: producer rebuilt",
                retriable=True,
            )
        self._rewind(batch)
        if isinstance(producer, TrackedProducer):
            producer.deliveries.take_failures()  # logged already; they belong to this abort
        if isinstance(cause, BusError):
            return cause if cause.retriable else BatchAborted(str(cause))
        return BatchAborted(f"batch of {len(batch)} aborted and rewound: {cause!r}")

    def _replace_producer(self, reason: str) -> None:
        """Drop the producer; the next batch builds a new one and resumes from the committed
        offsets (the dropped one's last transaction may or may not have committed)."""
        logger.error("replacing the transactional producer: %s", reason)
        producer, self._producer = self._producer, None
        self._rewind_to_committed = True
        self.rebuilds += 1
        if producer is not None:
            self._discard(producer)

    def _discard(self, producer: Producer) -> None:
        try:
            producer.purge(in_queue=True, in_flight=True, blocking=False)
        except KafkaException as exc:
            logger.warning("purge of the dropped producer failed: %s", exc)
        run_bounded(producer.close, self._budget(), "close of the dropped producer")

    def _rewind_committed(self) -> None:
        """Seek every assigned partition to the group's committed offset; or, when the
        consumer keeps failing to read them, rebuild it (a new consumer starts from them)."""
        assigned = self._consumer.assignment()
        try:
            committed = self._consumer.committed(assigned, self._budget()) if assigned else []
        except BusError:
            self._rewind_failures += 1
            if self._rewind_failures < REWIND_FAILURES_BEFORE_REBUILD or self._stopping():
                raise
            logger.error(
                "the consumer failed %d times to read the committed offsets while the broker "
                "answers: rebuilding it",
                self._rewind_failures,
            )
            self._consumer.rebuild()
            self._rewind_failures = 0
            self._rewind_to_committed = False
            return
        self._rewind_failures = 0
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING  # never committed
            self._seek(TopicPartition(tp.topic, tp.partition, offset))
        self._rewind_to_committed = False
        logger.info("rewound %d partition(s) to their committed offsets", len(committed))

    def _rewind(self, batch: list[Message]) -> None:
        """Seek every partition of the batch back to its first offset in the batch."""
        for tp in first_offsets(batch):
            self._seek(tp)

    def _seek(self, tp: TopicPartition) -> None:
        try:
            self._consumer.seek(tp)
        except KafkaException as exc:
            # Typically the partition was revoked: its new owner resumes from the last
            # committed offset, which is where this consumer would have gone, so nothing is lost.
            logger.warning(
                "could not rewind %s [%d] to %d: %s", tp.topic, tp.partition, tp.offset, exc
            )

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def _budget(self) -> float:
        """How long the next blocking call may wait: the call timeout, shorter once stopping."""
        timeout = self._kafka.call_timeout_s
        return min(timeout, STOPPING_CALL_S) if self._stopping() else timeout


def _describe(exc: KafkaException) -> str:
    err = kafka_error_of(exc)
    return f"{err.str()} ({err.name()})" if err is not None else str(exc)
