"""Read-process-write in one Kafka transaction: the basis of Arena's exactly-once processing.

For each batch: begin a transaction, let the handler turn messages into output records (and
name the poison ones), produce the outputs and the dead letters, add the batch's next offsets
to the transaction, commit. Outputs, dead letters and consumed offsets become visible
together or not at all. On failure the transaction is aborted and the consumer rewound to
the start of the batch, so the batch is read again and retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import KafkaException, Message, Producer

from arena.bus.backoff import Backoff
from arena.bus.broker_log import kafka_error_of
from arena.bus.consumer import BatchConsumer
from arena.bus.dlq import dead_letter_record
from arena.bus.loop import RetryHook, run_until_stopped
from arena.bus.offsets import first_offsets, next_offsets
from arena.bus.producer import TrackedProducer
from arena.bus.records import BatchResult, BatchStats, OutRecord
from arena.bus.stop import StopFlag
from arena.config import KafkaSettings
from arena.errors import BatchAborted, BusError, InvalidEvent

__all__ = ["BatchResult", "BatchStats", "OutRecord", "TransactionalProcessor"]

logger = logging.getLogger(__name__)

Handler = Callable[[list[Message]], BatchResult]


@dataclass(frozen=True, slots=True)
class _Inflight:
    """A batch whose transaction is committing in the background."""

    batch: list[Message]
    result: BatchResult
    started: float
    commit: Future[None]


_T = TypeVar("_T")

RETRIABLE_ATTEMPTS = 5
ABORT_FLUSH_S = 10.0


class TransactionalProcessor:
    """Runs handlers over batches from ``consumer``, each batch in one producer transaction.

    ``producer`` must have a ``transactional.id`` (``make_producer(..., transactional_id=)``);
    ``on_commit`` is called with each committed batch's stats.
    """

    def __init__(
        self,
        consumer: BatchConsumer,
        producer: Producer,
        kafka: KafkaSettings,
        *,
        on_commit: Callable[[BatchStats], None] | None = None,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._kafka = kafka
        self._on_commit = on_commit
        self._initialized = False

    def init(self, timeout_s: float = 60.0) -> None:
        """Register the transactional id, fencing off (and aborting) any older instance's work."""
        try:
            self._retrying("init transactions", lambda: self._producer.init_transactions(timeout_s))
        except KafkaException as exc:
            raise _fatal(exc, "init transactions") from exc
        self._initialized = True

    def process_batch(self, messages: Sequence[Message], handler: Handler) -> BatchStats:
        """Process ``messages`` exactly once: outputs, dead letters and offsets in one commit.

        The handler returns poison messages in ``BatchResult.dead``; an InvalidEvent it raises
        instead makes each message be handled on its own, to find the poison ones. Any other
        exception is retriable: the transaction is aborted, the consumer rewound, and
        BatchAborted raised. A fatal producer error raises BusError(retriable=False): the
        producer must be recreated.
        """
        if not self._initialized:
            raise BusError("TransactionalProcessor.init() must be called first")
        batch = list(messages)
        if not batch:
            return BatchStats(0, 0, 0, 0.0)
        started = time.monotonic()
        self._begin(batch)
        try:
            result = self._handle(batch, handler)
            self._send(batch, result)
            self._retrying("commit transaction", self._producer.commit_transaction)
        except Exception as exc:
            raise self._abort_and_rewind(batch, exc) from exc
        return self._committed(batch, result, started)

    def _begin(self, batch: list[Message]) -> None:
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            self._rewind(batch)
            raise _fatal(exc, "begin transaction") from exc

    def _send(self, batch: list[Message], result: BatchResult) -> None:
        """Produce the outputs and dead letters, and add the batch's offsets to the transaction."""
        records = result.outputs + [
            dead_letter_record(msg, reason, self._kafka) for msg, reason in result.dead
        ]
        for record in records:
            self._produce(record)
        offsets = next_offsets(batch)
        group = self._consumer.consumer_group_metadata()
        self._retrying(
            "send offsets",
            lambda: self._producer.send_offsets_to_transaction(offsets, group),
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
    ) -> None:
        """Consume and process batches until ``stop`` is set, one transaction per batch.

        Pipelined: while batch k's transaction commits (a broker round trip or three), the
        next batch is consumed and handled; its records are produced only after k's commit
        succeeded, so transactions stay strictly ordered. If k's commit fails, k is aborted
        and both batches are rewound and read again. Retriable failures are retried after an
        exponential back-off; fatal ones are raised, since only a new client can recover.
        """
        inflight: _Inflight | None = None

        def step() -> None:
            nonlocal inflight
            try:
                inflight = self._step(
                    inflight, committer, handler, batch_size, batch_timeout_s, on_idle
                )
            except BusError:
                inflight = None  # aborted and rewound (or fatal): nothing is in flight
                raise

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="txn-commit") as committer:
            try:
                run_until_stopped(stop, step, backoff=backoff, on_retry=on_retry)
            finally:
                self._settle(inflight, [])

    def _step(
        self,
        inflight: _Inflight | None,
        committer: ThreadPoolExecutor,
        handler: Handler,
        batch_size: int,
        batch_timeout_s: float,
        on_idle: Callable[[], None] | None,
    ) -> _Inflight | None:
        messages = self._consumer.consume(batch_size, batch_timeout_s)
        if not messages:
            self._settle(inflight, [])
            self._producer.poll(0)  # serve error and delivery callbacks while idle
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
        self._begin(batch)
        try:
            self._send(batch, result)
        except Exception as exc:
            raise self._abort_and_rewind(batch, exc) from exc
        commit = committer.submit(
            self._retrying, "commit transaction", self._producer.commit_transaction
        )
        return _Inflight(batch, result, started, commit)

    def _settle(self, inflight: _Inflight | None, next_batch: list[Message]) -> None:
        """Wait for the transaction in flight; on failure abort it and rewind it and
        ``next_batch`` (read meanwhile, not yet produced), then raise."""
        if inflight is None:
            return
        try:
            inflight.commit.result()
        except Exception as exc:
            raise self._abort_and_rewind(inflight.batch + next_batch, exc) from exc
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

    def _produce(self, record: OutRecord) -> None:
        headers: list[tuple[str, str | bytes | None]] = list(record.headers)
        partition = -1 if record.partition is None else record.partition
        deadline = time.monotonic() + self._kafka.transaction_timeout_ms / 1000
        while True:
            try:
                self._producer.produce(
                    record.topic, record.value, record.key, partition=partition, headers=headers
                )
                return
            except BufferError:
                if time.monotonic() >= deadline:
                    raise
                self._producer.poll(0.05)  # local queue full: wait for deliveries to drain it

    def _retrying(self, what: str, call: Callable[[], _T]) -> _T:
        """Call ``call``, repeating it while it fails with a retriable (and not abortable) error."""
        for attempt in range(1, RETRIABLE_ATTEMPTS + 1):
            try:
                return call()
            except KafkaException as exc:
                err = kafka_error_of(exc)
                if (
                    err is None
                    or err.fatal()
                    or err.txn_requires_abort()
                    or not err.retriable()
                    or attempt == RETRIABLE_ATTEMPTS
                ):
                    raise
                logger.warning("%s failed (attempt %d, retrying): %s", what, attempt, err)
                time.sleep(min(0.1 * 2**attempt, 2.0))  # brief pause before the retry
        raise AssertionError("unreachable")

    def _abort_and_rewind(self, batch: list[Message], cause: Exception) -> BusError:
        """Abort the open transaction and rewind; return the error the caller should see."""
        err = kafka_error_of(cause) if isinstance(cause, KafkaException) else None
        if err is not None and err.fatal():
            logger.critical("fatal producer error, transaction not abortable: %s", err)
            self._rewind(batch)
            return BusError(f"fatal producer error: {err.str()} ({err.name()})")
        logger.warning("aborting transaction of %d message(s): %r", len(batch), cause)
        # Let in-flight records land (as aborted) first: aborting while the first produce of
        # a transaction is in flight can fail fatally (librdkafka#4849).
        remaining = self._producer.flush(ABORT_FLUSH_S)
        if remaining:
            logger.warning("%d record(s) still in flight when aborting", remaining)
        try:
            self._retrying("abort transaction", self._producer.abort_transaction)
        except KafkaException as exc:
            self._rewind(batch)
            return _fatal(exc, "abort transaction")
        self._rewind(batch)
        if isinstance(self._producer, TrackedProducer):
            self._producer.deliveries.take_failures()  # logged already; they belong to this abort
        if isinstance(cause, BusError):
            return cause if cause.retriable else BatchAborted(str(cause))
        return BatchAborted(f"batch of {len(batch)} aborted and rewound: {cause!r}")

    def _rewind(self, batch: list[Message]) -> None:
        """Seek every partition of the batch back to its first offset in the batch."""
        for tp in first_offsets(batch):
            try:
                self._consumer.seek(tp)
            except KafkaException as exc:
                # Typically the partition was revoked: its new owner resumes from the last
                # committed offset, which is this batch's start, so nothing is lost.
                logger.warning(
                    "could not rewind %s [%d] to %d: %s", tp.topic, tp.partition, tp.offset, exc
                )


def _fatal(exc: KafkaException, doing: str) -> BusError:
    err = kafka_error_of(exc)
    detail = f"{err.str()} ({err.name()})" if err is not None else str(exc)
    retriable = err is not None and err.retriable() and not err.fatal()
    return BusError(f"{doing} failed: {detail}", retriable=retriable)
