"""``arena watch DIR``: upload each new image file to MinIO and publish it as an ImageEvent.

A polling watcher (portable, no inotify): every interval it scans the folder, waits until a
file has settled (unchanged since the previous scan and older than ``settle_s``), uploads it
to the image bucket at ``<source>/<relative path>`` and produces an ImageEvent that refers to
it. Delivery is at-least-once: the ledger is appended only after Kafka acknowledged the
events, and a file published again after a crash keeps its event id, which is derived from
``(source, relative path, size, mtime_ns)``. A file rewritten later (other size or mtime) is
a new photo: it gets a new event id, and its upload replaces the object at the same key.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from arena.bus.backoff import Backoff
from arena.bus.producer import TrackedProducer, flush_or_raise, make_producer
from arena.bus.stop import StopFlag
from arena.bus.topics import default_topics, ensure_topics
from arena.config import Settings
from arena.errors import BusError, ConfigError
from arena.events import ContentType, ImageEvent, encode_image_event
from arena.ingest.ledger import Ledger, LedgerEntry
from arena.ingest.scan import DirectoryScanner, FileState

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 20 * 1024 * 1024
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "arena:ingest/watch")
_TYPES: dict[str, tuple[ContentType, str]] = {
    ".png": (ContentType.PNG, "image/png"),
    ".jpg": (ContentType.JPEG, "image/jpeg"),
    ".jpeg": (ContentType.JPEG, "image/jpeg"),
    ".webp": (ContentType.ENCODED, "image/webp"),
    ".bmp": (ContentType.ENCODED, "image/bmp"),
    ".gif": (ContentType.ENCODED, "image/gif"),
    ".tif": (ContentType.ENCODED, "image/tiff"),
    ".tiff": (ContentType.ENCODED, "image/tiff"),
}
IMAGE_EXTENSIONS = frozenset(_TYPES)


def image_event_id(source: str, relative_path: str, size: int, mtime_ns: int) -> str:
    """The event id of one file version: the same on every run, so a republish is recognisable."""
    return uuid.uuid5(_ID_NAMESPACE, f"{source}\0{relative_path}\0{size}\0{mtime_ns}").hex


class ImageUploader(Protocol):
    """Stores an image and returns its ``s3://`` URI (ArtifactStore does)."""

    def put_image(self, key: str, data: bytes, content_type: str = ...) -> str: ...


class EventPublisher(Protocol):
    """Publishes ImageEvents; ``flush`` returns once all are delivered and raises otherwise."""

    def publish(self, event: ImageEvent) -> None: ...

    def flush(self) -> None: ...


class KafkaImagePublisher:
    """Produces ImageEvents to the image topic, keyed by event id."""

    def __init__(self, producer: TrackedProducer, topic: str, timeout_s: float = 30.0) -> None:
        self._producer = producer
        self._topic = topic
        self._timeout_s = timeout_s

    def publish(self, event: ImageEvent) -> None:
        self._producer.produce(self._topic, encode_image_event(event), event.event_id.encode())
        self._producer.poll(0)

    def flush(self) -> None:
        flush_or_raise(self._producer, self._timeout_s)


@dataclass(frozen=True, slots=True)
class WatchConfig:
    """What to watch and how: ``source`` names the origin in events and object keys."""

    root: Path
    source: str
    settle_s: float = 1.0
    max_file_bytes: int = MAX_FILE_BYTES
    batch_size: int = 100  # files per upload/flush/ledger cycle

    def __post_init__(self) -> None:
        if not self.source or len(self.source.encode()) > 255:
            raise ConfigError(f"--source must be 1 to 255 bytes, got {self.source!r}")
        if self.settle_s < 0 or self.batch_size < 1 or self.max_file_bytes < 1:
            raise ConfigError("settle must be >= 0, batch size and file limit >= 1")


@dataclass(slots=True)
class ScanReport:
    """What one scan did."""

    published: list[LedgerEntry] = field(default_factory=list)
    skipped: list[LedgerEntry] = field(default_factory=list)
    unsettled: int = 0  # files still being written (or too young): handled by a later scan


class Watcher:
    """Turns settled, not yet handled image files of one folder into published ImageEvents."""

    def __init__(
        self,
        config: WatchConfig,
        ledger: Ledger,
        uploader: ImageUploader,
        publisher: EventPublisher,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self._uploader = uploader
        self._publisher = publisher
        self._clock_ns = clock_ns
        self._scanner = DirectoryScanner(config.root, IMAGE_EXTENSIONS, config.settle_s)

    def scan_once(self, stop: StopFlag | None = None) -> ScanReport:
        """Publish every settled new file, oldest first, in batches; stop between batches."""
        new = [f for f in self._scanner.settled(self._clock_ns()) if f.version not in self.ledger]
        report = ScanReport(unsettled=self._scanner.unsettled)
        size = self.config.batch_size
        for start in range(0, len(new), size):
            if stop is not None and stop.is_set():
                break
            entries = [e for e in map(self._handle, new[start : start + size]) if e is not None]
            self._publisher.flush()
            self.ledger.append(entries)
            for entry in entries:
                (report.published if entry.status == "published" else report.skipped).append(entry)
        return report

    def run(self, stop: StopFlag, interval_s: float) -> None:
        """Scan every ``interval_s`` until ``stop`` is set; back off on retriable Kafka errors."""
        backoff = Backoff(initial_s=max(interval_s, 0.1), max_s=60.0)
        while not stop.is_set():
            try:
                report = self.scan_once(stop)
            except BusError as exc:
                if not exc.retriable:
                    raise
                delay = backoff.next_delay()
                log.warning("publishing failed (%s); retrying in %.1f s", exc, delay)
                stop.wait(delay)
                continue
            backoff.reset()
            if report.published or report.skipped:
                log.info("published %d, skipped %d", len(report.published), len(report.skipped))
            stop.wait(interval_s)

    def _handle(self, f: FileState) -> LedgerEntry | None:
        """Upload and publish one file; a skip entry when it can never be; None to retry later."""
        if f.size == 0:
            return self._skip(f, "the file is empty")
        if f.size > self.config.max_file_bytes:
            return self._skip(f, f"{f.size} bytes exceeds the {self.config.max_file_bytes} limit")
        try:
            f.rel.encode()
        except UnicodeEncodeError:
            return self._skip(f, "the file name is not valid UTF-8")
        try:
            data, after = _read_regular_file(f.path, self.config.max_file_bytes)
        except FileNotFoundError:
            log.info("%s disappeared before it was read", f.rel)
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return self._skip(f, "it became a symbolic link: never followed")
            return self._skip(f, f"unreadable: {exc}")
        if (len(data), after.st_size, after.st_mtime_ns) != (f.size, f.size, f.mtime_ns):
            log.info("%s changed while it was read; retrying once it settles", f.rel)
            return None
        return self._publish(f, data)

    def _publish(self, f: FileState, data: bytes) -> LedgerEntry:
        content_type, mime = _TYPES[f.path.suffix.lower()]
        key = f"{self.config.source}/{f.rel}"
        if self.ledger.has_published(f.rel):
            log.warning("%s was rewritten: its new version replaces the object %s", f.rel, key)
        uri = self._uploader.put_image(key, data, mime)
        event_id = image_event_id(self.config.source, f.rel, f.size, f.mtime_ns)
        self._publisher.publish(
            ImageEvent(
                event_id=event_id,
                timestamp_ms=f.mtime_ns // 1_000_000,
                source=self.config.source,
                content_type=content_type,
                reference=uri,
            )
        )
        return LedgerEntry(f.rel, f.size, f.mtime_ns, "published", event_id=event_id, uri=uri)

    def _skip(self, f: FileState, reason: str) -> LedgerEntry:
        log.warning("skipping %s: %s (recorded in %s)", f.rel, reason, self.ledger.path)
        return LedgerEntry(f.rel, f.size, f.mtime_ns, "skipped", reason=reason)


@contextmanager
def kafka_watcher(settings: Settings, config: WatchConfig, ledger_path: Path) -> Iterator[Watcher]:
    """A Watcher wired to the real image topic (created if missing) and the image bucket."""
    from storage.artifacts import ArtifactStore  # the CLI imports storage only when needed

    kafka = settings.kafka
    ensure_topics(kafka, [s for s in default_topics(kafka) if s.name == kafka.image_topic])
    with ArtifactStore(settings.s3) as store:
        producer = make_producer(kafka)
        yield Watcher(
            config, Ledger(ledger_path), store, KafkaImagePublisher(producer, kafka.image_topic)
        )


def _read_regular_file(path: Path, max_bytes: int) -> tuple[bytes, os.stat_result]:
    """The bytes of ``path`` if it is still a regular file, read without following a
    symlink put in its place since the scan (ELOOP), and never more than ``max_bytes + 1``."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        data = file.read(max_bytes + 1)
        return data, os.fstat(file.fileno())
