"""Shared pieces of the phases: per-phase settings, event producers, a read_committed
prediction counter, scorers as threads or as ``arena scorer`` subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from confluent_kafka import Consumer

from arena.bus.producer import flush_or_raise, make_producer
from arena.bus.stop import StopFlag
from arena.bus.topics import default_topics, delete_topics, ensure_topics, wait_for_leaders
from arena.config import Settings, with_overrides
from arena.deployment import isolated_deployment
from arena.errors import ArenaError
from arena.events import (
    ContentType,
    ImageEvent,
    decode_prediction,
    decode_scorer_status,
    encode_image_event,
    now_ms,
)
from scorer.app import ScorerHandle, run_scorer

DATABASE = "arena_bench"
ARENA = Path(os.environ.get("ARENA_BIN", Path(sys.executable).parent / "arena"))


def phase_settings(base: Settings, phase: str, **scorer: Any) -> Settings:
    """Topics of its own for ``phase`` (4 partitions), the bench database, scorer overrides."""
    name = f"arena.demo-bench{uuid.uuid4().hex[:6]}-{phase}"
    settings = isolated_deployment(base, name, DATABASE)
    settings = with_overrides(settings, kafka={"partitions": 4}, scorer=scorer)
    ensure_topics(settings.kafka, default_topics(settings.kafka))
    wait_for_leaders(settings.kafka)
    return settings


def drop_topics(settings: Settings) -> None:
    """Delete every topic of a phase, so the broker's disk stays small."""
    delete_topics(settings.kafka, [s.name for s in default_topics(settings.kafka)])


def raw_event(i: int, image: npt.NDArray[np.uint8], run: str, ts: int | None = None) -> bytes:
    return encode_image_event(
        ImageEvent(
            f"{run}-{i:08d}",
            now_ms() if ts is None else ts,
            "bench",
            ContentType.RAW_GRAY8,
            image.tobytes(),
            height=image.shape[0],
            width=image.shape[1],
        )
    )


def produce_all(settings: Settings, frames: Iterator[tuple[str, bytes]]) -> int:
    """Produce every (event id, frame) to the image topic and wait for all acks."""
    producer = make_producer(settings.kafka)
    topic = settings.kafka.image_topic
    n = 0
    for key, frame in frames:
        while True:
            try:
                producer.produce(topic, frame, key.encode())
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if n % 10_000 == 0:
            producer.poll(0)
    flush_or_raise(producer, 120)
    return n


@dataclass
class Arrivals:
    """What the read_committed consumer saw."""

    count: int = 0
    keys: set[bytes] = field(default_factory=set)
    first_ms: int = 0
    last_ms: int = 0
    # (arrival ms, event timestamp ms, model version, event id), only when decoding
    rows: list[tuple[int, int, int, str]] = field(default_factory=list)


class PredictionCounter(threading.Thread):
    """Counts committed predictions (read_committed); with ``decode``, keeps each row."""

    def __init__(self, settings: Settings, *, decode: bool = False) -> None:
        super().__init__(name="bench-counter", daemon=True)
        self.seen = Arrivals()
        self._decode = decode
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._consumer = Consumer(
            {
                **settings.kafka.client_config(),
                "group.id": f"bench-counter-{uuid.uuid4().hex[:8]}",
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 5,  # do not add fetch latency to what we measure
            }
        )
        self._consumer.subscribe([settings.kafka.prediction_topic])

    def run(self) -> None:
        seen = self.seen
        try:
            while not self._halt.is_set():
                # consume() waits for the whole timeout unless the batch fills: keep it short, or
                # the arrival stamp (taken after it returns) would lag by up to the timeout.
                batch = self._consumer.consume(5000, 0.002)
                if not batch:
                    continue
                arrived = now_ms()
                with self._lock:
                    for msg in batch:
                        if msg.error():
                            continue
                        seen.count += 1
                        seen.keys.add(msg.key() or b"")
                        if self._decode:
                            p = decode_prediction(msg.value())
                            seen.rows.append(
                                (arrived, p.event_timestamp_ms, p.model_version, p.event_id)
                            )
                    seen.first_ms = seen.first_ms or arrived
                    seen.last_ms = arrived
        finally:
            self._consumer.close()

    def count(self) -> int:
        with self._lock:
            return self.seen.count

    def distinct(self) -> int:
        with self._lock:
            return len(self.seen.keys)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def wait_for(
    condition: Callable[[], bool],
    timeout_s: float,
    what: str,
    errors: list[BaseException] | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if errors:
            raise ArenaError(f"scorer crashed while waiting for {what}: {errors[0]!r}")
        if time.monotonic() > deadline:
            raise ArenaError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.02)


@dataclass
class ScorerThread:
    """One ``run_scorer`` in a thread of this process, as the demo fleet runs it."""

    settings: Settings
    scorer_id: str
    handle: ScorerHandle = field(init=False)
    errors: list[BaseException] = field(default_factory=list)
    started_at: float = 0.0

    def __post_init__(self) -> None:
        self.handle = ScorerHandle(self.scorer_id)
        self._stop = StopFlag()
        self.settings = with_overrides(self.settings, scorer={"scorer_id": self.scorer_id})

        def body() -> None:
            try:
                run_scorer(self.settings, self._stop, self.handle)
            except BaseException as exc:
                self.errors.append(exc)

        self._thread = threading.Thread(target=body, name=self.scorer_id, daemon=True)

    def start(self) -> None:
        self.started_at = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def scorer_env(settings: Settings, scorer_id: str) -> dict[str, str]:
    """ARENA_* variables that make ``arena scorer`` use this phase's topics and database."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    for section, prefix in (("kafka", "ARENA_KAFKA_"), ("scorer", "ARENA_SCORER_")):
        for key, value in getattr(settings, section).model_dump().items():
            if value is not None:
                env[prefix + key.upper()] = str(value)
    env["ARENA_DB_NAME"] = settings.db.name
    env["ARENA_SCORER_SCORER_ID"] = scorer_id
    return env


class MeasuredProcess:
    """A subprocess whose peak resident memory (VmHWM) is sampled; SIGTERM to stop it."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.peak_kib = 0

    def sample(self) -> None:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.sample()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def while_alive(
    procs: list[MeasuredProcess], enough: Callable[[], bool], logs: Path
) -> Callable[[], bool]:
    """A ``wait_for`` condition: ``enough()``, sampling each process's memory on the way,
    and an error as soon as one has exited (its log is in ``logs``)."""

    def condition() -> bool:
        for p in procs:
            p.sample()
            if not p.alive():
                raise RuntimeError(f"process {p.proc.pid} exited early, see {logs}")
        return enough()

    return condition


class ScorerProcess(MeasuredProcess):
    """``arena scorer`` as a subprocess, on this phase's topics and database."""

    def __init__(self, settings: Settings, scorer_id: str, log_path: Path) -> None:
        super().__init__([str(ARENA), "scorer"], scorer_env(settings, scorer_id), log_path)


@contextmanager
def counting(settings: Settings, *, decode: bool = False) -> Iterator[PredictionCounter]:
    counter = PredictionCounter(settings, decode=decode)
    counter.start()
    try:
        yield counter
    finally:
        counter.stop()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def wait_serving(
    settings: Settings, scorer_id: str, timeout_s: float, proc: ScorerProcess | None = None
) -> int:
    """Wait for ``scorer_id``'s "serving" acknowledgement on the status topic; its version."""
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": f"bench-status-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([settings.kafka.scorer_status_topic])
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if proc is not None and not proc.alive():
                raise RuntimeError(f"scorer {scorer_id} exited before serving")
            for msg in consumer.consume(100, 0.2):
                if msg.error():
                    continue
                status = decode_scorer_status(msg.value())
                if status.scorer_id == scorer_id and status.state == "serving":
                    return status.version
        raise TimeoutError(f"scorer {scorer_id} did not serve within {timeout_s:.0f} s")
    finally:
        consumer.close()
