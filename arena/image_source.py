"""Fetch the bytes of images that events carry by reference (claim check).

A reference is ``s3://bucket/key`` (read from the object store) or a file path, which must
resolve inside the configured image root: a path outside it is refused, never read.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from arena.errors import InvalidEvent
from arena.events import ImageEvent

log = logging.getLogger(__name__)


class ObjectReader(Protocol):
    """Reads one object: LookupError when it does not exist; anything else is retryable."""

    def read_object(self, bucket: str, key: str) -> bytes: ...


class ImageSource:
    """Resolves every event of a batch to its image bytes, fetching references in parallel."""

    def __init__(self, objects: ObjectReader | None, image_root: Path | None, threads: int) -> None:
        self._objects = objects
        self._root = image_root.resolve() if image_root is not None else None
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="image-fetch")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def payloads(self, events: Sequence[ImageEvent]) -> list[bytes | InvalidEvent]:
        """The bytes of each event, or the InvalidEvent that explains why there are none."""
        out: list[bytes | InvalidEvent] = [e.payload for e in events]
        pending = [(i, e) for i, e in enumerate(events) if e.reference is not None]
        if not pending:
            return out
        for (i, _), result in zip(
            pending, self._pool.map(lambda ie: self._fetch_or_reason(ie[1]), pending), strict=True
        ):
            out[i] = result
        return out

    def _fetch_or_reason(self, event: ImageEvent) -> bytes | InvalidEvent:
        try:
            return self.fetch(event)
        except InvalidEvent as exc:
            return exc

    def fetch(self, event: ImageEvent) -> bytes:
        """One referenced image; InvalidEvent when the reference is bad or the object missing."""
        ref = event.reference or ""
        if ref.startswith("s3://"):
            bucket, _, key = ref[len("s3://") :].partition("/")
            if not bucket or not key:
                raise InvalidEvent(f"image {event.event_id}: malformed reference {ref!r}")
            if self._objects is None:
                raise InvalidEvent(f"image {event.event_id}: no object store configured for {ref}")
            try:
                return self._objects.read_object(bucket, key)
            except LookupError as exc:
                # A missing object is the event's fault (poison); a store that is down is
                # not, so any other error propagates and the batch is retried.
                raise InvalidEvent(f"image {event.event_id}: no such object {ref}") from exc
        return self._read_file(event, ref)

    def _read_file(self, event: ImageEvent, ref: str) -> bytes:
        if self._root is None:
            raise InvalidEvent(
                f"image {event.event_id}: file reference {ref!r} "
                "but ARENA_SCORER_IMAGE_ROOT is unset"
            )
        path = (self._root / ref).resolve()
        if not path.is_relative_to(self._root):
            raise InvalidEvent(f"image {event.event_id}: path {ref!r} escapes the image root")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise InvalidEvent(
                f"image {event.event_id}: cannot read {ref}: {exc.strerror}"
            ) from exc
