"""Fetch the bytes of images that events carry by reference (claim check).

A reference is ``s3://bucket/key`` (the whole object), ``s3://bucket/key?bytes=START-END``
(bytes START..END inclusive of the object, like an HTTP Range: many images packed in one
object), or a file path, which must resolve inside the configured image root: a path outside
it is refused, never read.

Limits (``ImageLimits``, from ``ARENA_IMAGES_*``) keep one producer from exhausting a
service: only the allowed buckets are read; no image, inline or referenced, may exceed
``max_bytes`` (a whole object is read with a ranged GET of ``max_bytes + 1``, so a bigger
object is noticed without reading it); no range may exceed ``max_range_bytes``; file
references are opened one component at a time with ``O_NOFOLLOW`` (a symlink anywhere on
the path is refused), and only regular files are read (never a FIFO or a device).

What fails while fetching one event's bytes is that event's fault (poison), with one
exception: a store that cannot be reached or fails on its side (``InfrastructureUnavailable``,
or the builtin ``ConnectionError`` / ``TimeoutError``) is no event's fault, so it propagates
and the whole batch is retried.

A batch's ranged references to one object are fetched with one ranged read covering them
all (or a few, when they span more than ``MAX_COALESCED_BYTES``): a GET costs about 1 ms
of CPU whatever its size (most of it in MinIO; ~0.1 ms in the scorer with
``storage.s3_reads``), so one GET per image caps the claim-check rate on 2 cores.

``start`` returns while the reads run, so a scorer predicts a batch's inline images
meanwhile (``BatchDecoder.start``).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Protocol

from arena.config import Settings
from arena.errors import InfrastructureUnavailable, InvalidEvent, reason_of
from arena.events import ImageEvent

log = logging.getLogger(__name__)

MAX_COALESCED_BYTES = 16 * 1024 * 1024
"""The most bytes one ranged read may cover; images further apart are read separately."""

_RANGE = re.compile(r"bytes=([0-9]{1,15})-([0-9]{1,15})")
_Resolved = list[tuple[int, bytes | InvalidEvent]]
UNAVAILABLE = (InfrastructureUnavailable, ConnectionError, TimeoutError)
"""What a read may raise that is the infrastructure's fault, never the event's: retry."""


class ObjectReader(Protocol):
    """Reads objects.

    Raises ``InfrastructureUnavailable`` (or ``ConnectionError`` / ``TimeoutError``) when the
    store cannot serve the request: retried. ``LookupError`` when the object does not exist,
    and anything else (an invalid bucket name, access denied, ...), make the event poison.
    """

    def read_object(self, bucket: str, key: str) -> bytes: ...

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``start``; fewer (maybe none) past the object's end."""
        ...


@dataclass(frozen=True, slots=True)
class ImageLimits:
    """What a reference may name and how much may be read for one image."""

    max_bytes: int = 20 * 1024 * 1024
    max_range_bytes: int = 20 * 1024 * 1024
    buckets: frozenset[str] | None = None  # None: any bucket (tests, tools)


@dataclass(frozen=True)
class ObjectRange:
    """Bytes ``start..end`` (inclusive) of an object, or all of it when ``start`` is None."""

    bucket: str
    key: str
    start: int | None = None
    end: int | None = None


def ranged_reference(bucket: str, key: str, start: int, end: int) -> str:
    """The reference to bytes ``start..end`` (inclusive) of ``s3://bucket/key``."""
    if not 0 <= start <= end:
        raise ValueError(f"not a byte range: {start}-{end}")
    return f"s3://{bucket}/{key}?bytes={start}-{end}"


def parse_s3_reference(ref: str) -> ObjectRange:
    """Parse ``s3://bucket/key`` or ``s3://bucket/key?bytes=START-END``; ValueError if malformed.

    Only a final ``?bytes=`` suffix is a range, so a plain key containing ``?`` still works.
    """
    bucket, _, key = ref.removeprefix("s3://").partition("/")
    if not ref.startswith("s3://") or not bucket or not key:
        raise ValueError(f"malformed reference {ref!r}")
    path, sep, query = key.rpartition("?")
    if not sep or not query.startswith("bytes="):
        return ObjectRange(bucket, key)
    match = _RANGE.fullmatch(query)
    if not path or match is None:
        raise ValueError(f"malformed byte range in {ref!r}: expected ?bytes=START-END")
    start, end = int(match[1]), int(match[2])
    if end < start:
        raise ValueError(f"byte range in {ref!r} ends before it starts")
    return ObjectRange(bucket, path, start, end)


@dataclass(frozen=True)
class _Wanted:
    index: int
    event: ImageEvent
    start: int
    end: int


@dataclass
class _Span:
    """One ranged read, covering the images in ``wanted``."""

    start: int
    end: int
    wanted: list[_Wanted] = field(default_factory=list)


def coalesce(wanted: Iterable[_Wanted], limit: int) -> list[_Span]:
    """Group ranges into as few reads as possible, each covering at most ``limit`` bytes.

    A single image bigger than ``limit`` is read alone.
    """
    spans: list[_Span] = []
    for w in sorted(wanted, key=lambda w: w.start):
        if spans and max(spans[-1].end, w.end) - spans[-1].start < limit:
            spans[-1].end = max(spans[-1].end, w.end)
            spans[-1].wanted.append(w)
        else:
            spans.append(_Span(w.start, w.end, [w]))
    return spans


class ImageSource:
    """Resolves every event of a batch to its image bytes, fetching references in parallel."""

    def __init__(
        self,
        objects: ObjectReader | None,
        image_root: Path | None,
        threads: int,
        max_coalesced_bytes: int = MAX_COALESCED_BYTES,
        limits: ImageLimits = ImageLimits(),
    ) -> None:
        self._objects = objects
        self._root = image_root.resolve() if image_root is not None else None
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="image-fetch")
        self._limit = max_coalesced_bytes
        self._limits = limits

    @classmethod
    def from_settings(cls, objects: ObjectReader | None, settings: Settings) -> ImageSource:
        """The source every service uses: its root, threads and limits from ``ARENA_IMAGES_*``,
        reading only the allowed buckets (by default ``ARENA_S3_IMAGE_BUCKET``)."""
        images = settings.images
        limits = ImageLimits(
            max_bytes=images.max_bytes,
            max_range_bytes=images.max_range_bytes,
            buckets=images.allowed_buckets(settings.s3.image_bucket),
        )
        return cls(objects, images.root, images.fetch_threads, limits=limits)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def payloads(self, events: Sequence[ImageEvent]) -> list[bytes | InvalidEvent]:
        """The bytes of each event, or the InvalidEvent that explains why there are none.

        One read per whole-object reference or file, one ranged read per object (per
        ``max_coalesced_bytes``) for ranged references; run on the thread pool.

        Raises:
            InfrastructureUnavailable: (or another of ``UNAVAILABLE``) the store cannot be
                reached: no event is at fault, the caller retries the batch.
        """
        return self.start(events)()

    def start(self, events: Sequence[ImageEvent]) -> Callable[[], list[bytes | InvalidEvent]]:
        """Start fetching the events' bytes on the thread pool and return at once; calling
        the result waits for them and answers what ``payloads`` answers (and raises what it
        raises). The caller can meanwhile do other work: a scorer predicts its inline
        images while their batch's references are read.
        """
        out, jobs = self._plan(events)
        futures = [self._pool.submit(job) for job in jobs]

        def collect() -> list[bytes | InvalidEvent]:
            for future in futures:
                for i, result in future.result():
                    out[i] = result
            return out

        return collect

    def fetch(self, event: ImageEvent) -> bytes:
        """One image's bytes; InvalidEvent when the event is poison (bad reference, missing
        object, ...), InfrastructureUnavailable (or another of ``UNAVAILABLE``) when the store
        is down."""
        (result,), jobs = self._plan([event])
        for job in jobs:
            ((_, result),) = job()
        if isinstance(result, InvalidEvent):
            raise result
        return result

    def _plan(
        self, events: Sequence[ImageEvent]
    ) -> tuple[list[bytes | InvalidEvent], list[Callable[[], _Resolved]]]:
        """Each event's bytes where they are known now (inline, or a refused reference), and
        the reads that fetch the rest, each answering for the events it covers."""
        out: list[bytes | InvalidEvent] = [e.payload for e in events]
        jobs: list[Callable[[], _Resolved]] = []
        ranged: dict[tuple[str, str], list[_Wanted]] = {}
        for i, event in enumerate(events):
            ref = event.reference
            if ref is None:
                if len(event.payload or b"") > self._limits.max_bytes:
                    out[i] = self._too_big(event, len(event.payload or b""))
                continue
            if not ref.startswith("s3://"):
                jobs.append(partial(self._file_job, i, event, ref))
                continue
            try:
                target = self._locate(event, ref)
            except InvalidEvent as exc:
                out[i] = exc
                continue
            if target.start is None or target.end is None:
                jobs.append(partial(self._object_job, i, event, target))
            else:
                wanted = _Wanted(i, event, target.start, target.end)
                ranged.setdefault((target.bucket, target.key), []).append(wanted)
        for (bucket, key), wanted_list in ranged.items():
            for span in coalesce(wanted_list, self._limit):
                jobs.append(partial(self._span_job, bucket, key, span))
        return out, jobs

    def _locate(self, event: ImageEvent, ref: str) -> ObjectRange:
        try:
            target = parse_s3_reference(ref)
        except ValueError as exc:
            raise InvalidEvent(f"image {event.event_id}: {exc}") from None
        if self._objects is None:
            raise InvalidEvent(f"image {event.event_id}: no object store configured for {ref}")
        allowed = self._limits.buckets
        if allowed is not None and target.bucket not in allowed:
            raise InvalidEvent(
                f"image {event.event_id}: bucket {target.bucket!r} is not one images may be "
                f"read from ({', '.join(sorted(allowed))}; ARENA_IMAGES_BUCKETS)"
            )
        if target.start is not None and target.end is not None:
            length = target.end - target.start + 1
            if length > min(self._limits.max_range_bytes, self._limits.max_bytes):
                raise InvalidEvent(
                    f"image {event.event_id}: byte range of {length} bytes is longer than "
                    f"{min(self._limits.max_range_bytes, self._limits.max_bytes)} "
                    "(ARENA_IMAGES_MAX_RANGE_BYTES, ARENA_IMAGES_MAX_BYTES)"
                )
        return target

    def _too_big(self, event: ImageEvent, size: int | str) -> InvalidEvent:
        return InvalidEvent(
            f"image {event.event_id}: {size} bytes is larger than the "
            f"{self._limits.max_bytes} bytes an image may have (ARENA_IMAGES_MAX_BYTES)"
        )

    def _object_job(self, i: int, event: ImageEvent, target: ObjectRange) -> _Resolved:
        assert self._objects is not None  # _locate refused the event otherwise
        cap = self._limits.max_bytes
        try:
            # One byte more than allowed: enough to tell a too-big object, never all of it.
            data = self._objects.read_range(target.bucket, target.key, 0, cap + 1)
        except UNAVAILABLE:
            raise  # no event's fault: the batch is retried
        except Exception as exc:
            return [(i, _refused(event, target.bucket, target.key, exc))]
        if len(data) > cap:
            return [(i, self._too_big(event, f"more than {cap}"))]
        return [(i, data)]

    def _span_job(self, bucket: str, key: str, span: _Span) -> _Resolved:
        assert self._objects is not None
        try:
            data = self._objects.read_range(bucket, key, span.start, span.end - span.start + 1)
        except UNAVAILABLE:
            raise
        except Exception as exc:
            return [(w.index, _refused(w.event, bucket, key, exc)) for w in span.wanted]
        results: _Resolved = []
        for w in span.wanted:
            lo, hi = w.start - span.start, w.end - span.start + 1
            if hi > len(data):
                # The object ends before the range does: the reference is wrong (poison).
                results.append(
                    (
                        w.index,
                        InvalidEvent(
                            f"image {w.event.event_id}: {w.event.reference} runs past the end "
                            f"of the object ({span.start + len(data)} bytes or fewer)"
                        ),
                    )
                )
            else:
                results.append((w.index, data[lo:hi]))
        return results

    def _file_job(self, i: int, event: ImageEvent, ref: str) -> _Resolved:
        try:
            return [(i, self._read_file(event, ref))]
        except InvalidEvent as exc:
            return [(i, exc)]
        except UNAVAILABLE:
            raise
        except Exception as exc:  # e.g. ValueError for a NUL byte in the path
            return [(i, _poison(f"image {event.event_id}: file reference {ref!r}", exc))]

    def _read_file(self, event: ImageEvent, ref: str) -> bytes:
        if self._root is None:
            raise InvalidEvent(
                f"image {event.event_id}: file reference {ref!r} but ARENA_IMAGES_ROOT is unset"
            )
        if "\x00" in ref:
            raise ValueError("embedded null byte")  # as open() says; poison, like any ValueError
        parts = PurePosixPath(ref).parts
        if not parts or PurePosixPath(ref).is_absolute() or ".." in parts:
            raise InvalidEvent(f"image {event.event_id}: path {ref!r} escapes the image root")
        try:
            return self._read_nofollow(event, parts)
        except UNAVAILABLE:
            raise  # a network file system that does not answer: retried
        except OSError as exc:
            reason = exc.strerror
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                reason = "a symbolic link (or not a directory) on the path: refused"
            raise InvalidEvent(f"image {event.event_id}: cannot read {ref}: {reason}") from exc

    def _read_nofollow(self, event: ImageEvent, parts: tuple[str, ...]) -> bytes:
        """Open each component below the root with O_NOFOLLOW (a symlink anywhere is
        ELOOP), then read a regular file of at most ``max_bytes``."""
        assert self._root is not None
        nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY | nofollow)
        try:
            for part in parts[:-1]:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=fd)
                os.close(fd)
                fd = child
            # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
            leaf = os.open(parts[-1], os.O_RDONLY | os.O_NONBLOCK | nofollow, dir_fd=fd)
        finally:
            os.close(fd)
        with os.fdopen(leaf, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InvalidEvent(
                    f"image {event.event_id}: {'/'.join(parts)} is not a regular file"
                )
            if info.st_size > self._limits.max_bytes:
                raise self._too_big(event, info.st_size)
            data = file.read(self._limits.max_bytes + 1)
        if len(data) > self._limits.max_bytes:  # it grew while we looked
            raise self._too_big(event, f"more than {self._limits.max_bytes}")
        return data


def _refused(event: ImageEvent, bucket: str, key: str, cause: Exception) -> InvalidEvent:
    """The poison verdict on an event whose object could not be read, naming the cause."""
    if isinstance(cause, LookupError):
        error = InvalidEvent(f"image {event.event_id}: no such object s3://{bucket}/{key}")
        error.__cause__ = cause
        return error
    return _poison(f"image {event.event_id}: cannot read s3://{bucket}/{key}", cause)


def _poison(what: str, cause: Exception) -> InvalidEvent:
    error = InvalidEvent(f"{what}: {reason_of(cause)}")
    error.__cause__ = cause
    return error
