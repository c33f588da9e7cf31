"""Packed claim checks against the real MinIO: one object, many images, one ranged read."""

from __future__ import annotations

import threading
import uuid

import numpy as np

from arena.errors import InvalidEvent
from arena.events import ContentType, ImageEvent
from arena.image_source import ImageSource
from arena.images import encode_png
from storage.artifacts import ArtifactStore


class CountingStore:
    """Passes reads through to the real store, counting them."""

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.object_reads = 0
        self.range_reads = 0

    def read_object(self, bucket: str, key: str) -> bytes:
        with self._lock:
            self.object_reads += 1
        return self._store.read_object(bucket, key)

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        with self._lock:
            self.range_reads += 1
        return self._store.read_range(bucket, key, start, length)


def pngs(n: int) -> list[bytes]:
    rng = np.random.default_rng(7)
    return [encode_png(rng.integers(0, 256, (28, 28), dtype=np.uint8)) for _ in range(n)]


def event(reference: str, event_id: str) -> ImageEvent:
    return ImageEvent(event_id, 0, "drone-7", ContentType.PNG, b"", reference=reference)


def test_a_pack_resolves_to_the_exact_images_with_one_range_read(
    artifact_store: ArtifactStore,
) -> None:
    images = pngs(50)
    flight = f"flights/{uuid.uuid4().hex}.pack"
    references = artifact_store.put_image_pack(flight, images)
    plain = artifact_store.put_image(f"single/{uuid.uuid4().hex}.png", images[0], "image/png")
    counting = CountingStore(artifact_store)
    source = ImageSource(counting, None, threads=4)
    events = [event(ref, f"e{i}") for i, ref in enumerate(references)]
    events.insert(17, event(plain, "plain"))
    try:
        results = source.payloads(events)
    finally:
        source.close()

    assert len(references) == 50
    assert all(f"/{flight}?bytes=" in ref for ref in references)
    assert results[17] == images[0]
    assert results[:17] + results[18:] == images
    # the pack: one ranged read; the whole object: one read capped at ARENA_IMAGES_MAX_BYTES + 1
    assert (counting.range_reads, counting.object_reads) == (2, 0)


def test_ranges_past_the_end_and_missing_packs_are_poison(artifact_store: ArtifactStore) -> None:
    images = [b"a" * 10, b"b" * 10]
    [first, _] = artifact_store.put_image_pack(f"flights/{uuid.uuid4().hex}.pack", images)
    bucket_key = first.split("?", 1)[0]
    source = ImageSource(artifact_store, None, threads=2)
    try:
        results = source.payloads(
            [
                event(f"{bucket_key}?bytes=15-24", "straddles"),
                event(f"{bucket_key}?bytes=100-109", "beyond"),
                event(first.replace(".pack", ".gone"), "missing"),
                event(first, "ok"),
            ]
        )
    finally:
        source.close()

    assert results[3] == images[0]
    assert isinstance(results[0], InvalidEvent)
    assert "past the end" in str(results[0])
    assert isinstance(results[1], InvalidEvent)
    assert "past the end" in str(results[1])
    assert isinstance(results[2], InvalidEvent)
    assert "no such object" in str(results[2])


def test_read_range_returns_the_bytes_or_fewer_at_the_end(artifact_store: ArtifactStore) -> None:
    uri = artifact_store.put_image(f"raw/{uuid.uuid4().hex}", b"0123456789")
    bucket, key = uri.removeprefix("s3://").split("/", 1)

    assert artifact_store.read_range(bucket, key, 3, 4) == b"3456"
    assert artifact_store.read_range(bucket, key, 8, 10) == b"89"
    assert artifact_store.read_range(bucket, key, 10, 5) == b""
