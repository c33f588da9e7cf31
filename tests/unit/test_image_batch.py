"""BatchDecoder: one bad event never fails its batch; an unreachable store always does."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from arena.errors import InfrastructureUnavailable
from arena.events import ContentType, ImageEvent, encode_image_event
from arena.image_batch import BatchDecoder
from arena.image_source import ImageSource
from tests.unit.bus.fakes import FakeMessage
from tests.unit.test_images import dds_with_an_unknown_pixel_format

SHAPE = (28, 28)


class MinioLikeObjects:
    """Raises what the minio client raises: ValueError for a bucket name it refuses."""

    def __init__(self, down: bool = False) -> None:
        self.down = down

    def read_object(self, bucket: str, key: str) -> bytes:
        if self.down:
            raise InfrastructureUnavailable("object store unreachable: connection refused")
        if len(bucket) < 3:
            raise ValueError("invalid bucket name")
        raise LookupError(f"{bucket}/{key}")

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        return self.read_object(bucket, key)


def raw(event_id: str) -> ImageEvent:
    return ImageEvent(event_id, 0, "t", ContentType.RAW_GRAY8, bytes(784), height=28, width=28)


def ref(event_id: str, reference: str) -> ImageEvent:
    return ImageEvent(event_id, 0, "t", ContentType.PNG, reference=reference)


def records(events: list[ImageEvent]) -> list[FakeMessage]:
    return [
        FakeMessage("arena.images", 0, i, e.event_id.encode(), encode_image_event(e))
        for i, e in enumerate(events)
    ]


DecoderFactory = Callable[[MinioLikeObjects], BatchDecoder]


@pytest.fixture
def decoder_of(tmp_path: Path) -> Iterator[DecoderFactory]:
    made: list[ImageSource] = []

    def make(objects: MinioLikeObjects) -> BatchDecoder:
        made.append(ImageSource(objects, tmp_path, threads=2))
        return BatchDecoder(SHAPE, 8, made[-1])

    yield make
    for source in made:
        source.close()


def test_each_poison_kind_is_dead_lettered_with_its_reason_and_the_rest_decodes(
    decoder_of: DecoderFactory,
) -> None:
    dds = ImageEvent("dds", 0, "t", ContentType.ENCODED, dds_with_an_unknown_pixel_format())
    batch = records(
        [
            raw("good-1"),
            ref("bad-bucket", "s3://ab/k"),
            ref("nul-byte", "photos/a\x00.png"),
            dds,
            raw("good-2"),
        ]
    )
    decoder = decoder_of(MinioLikeObjects())

    decoded = decoder.decode(batch)

    assert [e.event_id for e in decoded.events] == ["good-1", "good-2"]
    assert decoded.images.shape == (2, *SHAPE)
    reasons = {r.key(): reason for r, reason in decoded.dead}
    assert set(reasons) == {b"bad-bucket", b"nul-byte", b"dds"}
    assert "ValueError" in reasons[b"bad-bucket"]
    assert "invalid bucket name" in reasons[b"bad-bucket"]
    assert "null byte" in reasons[b"nul-byte"]
    assert "not a decodable PNG/JPEG/WEBP/BMP/TIFF/GIF" in reasons[b"dds"]  # DDS: not allowed


def test_an_unreachable_store_fails_the_whole_batch(decoder_of: DecoderFactory) -> None:
    decoder = decoder_of(MinioLikeObjects(down=True))

    with pytest.raises(InfrastructureUnavailable, match="unreachable"):
        decoder.decode(records([raw("good"), ref("r", "s3://bucket/k")]))


def test_the_images_are_the_good_events_in_order(decoder_of: DecoderFactory) -> None:
    decoder = decoder_of(MinioLikeObjects())
    white = ImageEvent("w", 0, "t", ContentType.RAW_GRAY8, b"\xff" * 784, height=28, width=28)

    decoded = decoder.decode(records([raw("black"), ref("x", "s3://ab/k"), white]))

    assert [e.event_id for e in decoded.events] == ["black", "w"]
    np.testing.assert_array_equal(decoded.images[0], 0.0)
    np.testing.assert_array_equal(decoded.images[1], 1.0)


class GatedObjects:
    """Serves one white 28x28 PNG per key, but only once ``open`` is set: a slow store."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.reads: list[str] = []

    def read_object(self, bucket: str, key: str) -> bytes:
        if not self.open.wait(10):
            raise TimeoutError("the test never opened the gate")
        self.reads.append(key)
        if key.startswith("missing"):
            raise LookupError(f"{bucket}/{key}")
        out = io.BytesIO()
        Image.fromarray(np.full((28, 28), 255, np.uint8)).save(out, format="PNG")
        return out.getvalue()

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        return self.read_object(bucket, key)


def test_start_decodes_the_inline_images_while_the_references_are_still_read(
    tmp_path: Path,
) -> None:
    objects = GatedObjects()
    source = ImageSource(objects, tmp_path, threads=2)
    try:
        decoder = BatchDecoder(SHAPE, 8, source)
        batch = records(
            [
                ref("r1", "s3://images/a.png"),
                raw("black"),
                ref("gone", "s3://images/missing.png"),
                ImageEvent("bad", 0, "t", ContentType.PNG, b"not a png"),
                ref("r2", "s3://images/b.png"),
            ]
        )

        inline, pending = decoder.start(batch)  # returns although no read can finish yet

        assert objects.reads == []
        assert [e.event_id for e in inline.events] == ["black"]
        np.testing.assert_array_equal(inline.images, np.zeros((1, *SHAPE), np.float32))
        assert [r.key() for r, _ in inline.dead] == [b"bad"]

        objects.open.set()
        referenced = pending.finish()

        assert [e.event_id for e in referenced.events] == ["r1", "r2"]
        np.testing.assert_array_equal(referenced.images, np.ones((2, *SHAPE), np.float32))
        assert [r.key() for r, _ in referenced.dead] == [b"gone"]
        np.testing.assert_array_equal(inline.images, 0.0)  # its rows were not overwritten
    finally:
        objects.open.set()
        source.close()


def test_start_without_references_has_nothing_pending(decoder_of: DecoderFactory) -> None:
    inline, pending = decoder_of(MinioLikeObjects()).start(records([raw("a"), raw("b")]))

    assert [e.event_id for e in inline.events] == ["a", "b"]
    rest = pending.finish()
    assert rest.events == [] and rest.dead == []


def test_start_fails_at_finish_when_the_store_is_unreachable(decoder_of: DecoderFactory) -> None:
    decoder = decoder_of(MinioLikeObjects(down=True))
    inline, pending = decoder.start(records([raw("good"), ref("r", "s3://bucket/k")]))

    assert [e.event_id for e in inline.events] == ["good"]
    with pytest.raises(InfrastructureUnavailable, match="unreachable"):
        pending.finish()
