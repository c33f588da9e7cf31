"""ImageSource: ranged (packed) claim checks are coalesced into one read per object."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from arena.errors import InfrastructureUnavailable, InvalidEvent
from arena.events import ContentType, ImageEvent
from arena.image_source import (
    ImageLimits,
    ImageSource,
    ObjectRange,
    parse_s3_reference,
    ranged_reference,
)


class FakeObjects:
    """In-memory object store that records every read."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects
        self.reads: list[tuple[str, str, int | None, int | None]] = []
        self.broken: dict[tuple[str, str], Exception] = {}
        self._lock = threading.Lock()

    def _get(self, bucket: str, key: str) -> bytes:
        if (bucket, key) in self.broken:
            raise self.broken[bucket, key]
        try:
            return self.objects[bucket, key]
        except KeyError:
            raise LookupError(f"{bucket}/{key}") from None

    def read_object(self, bucket: str, key: str) -> bytes:
        with self._lock:
            self.reads.append((bucket, key, None, None))
        return self._get(bucket, key)

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        with self._lock:
            self.reads.append((bucket, key, start, length))
        return self._get(bucket, key)[start : start + length]


def event(reference: str, event_id: str = "e") -> ImageEvent:
    return ImageEvent(event_id, 0, "test", ContentType.PNG, b"", reference=reference)


def inline(event_id: str = "inline") -> ImageEvent:
    return ImageEvent(event_id, 0, "test", ContentType.PNG, b"inline-bytes")


def pack(bucket: str, key: str, images: list[bytes]) -> tuple[bytes, list[str]]:
    refs, start = [], 0
    for image in images:
        refs.append(ranged_reference(bucket, key, start, start + len(image) - 1))
        start += len(image)
    return b"".join(images), refs


IMAGES = [bytes([i]) * (10 + i) for i in range(20)]


SourceFactory = Callable[..., ImageSource]


@pytest.fixture
def source_of() -> Iterator[SourceFactory]:
    """Makes ImageSources (objects, max_coalesced_bytes) and closes them afterwards."""
    made: list[ImageSource] = []

    def make(objects: FakeObjects | None, limit: int = 1 << 24) -> ImageSource:
        made.append(ImageSource(objects, None, threads=4, max_coalesced_bytes=limit))
        return made[-1]

    yield make
    for source in made:
        source.close()


def test_parse_plain_and_ranged_references() -> None:
    assert parse_s3_reference("s3://b/dir/k.png") == ObjectRange("b", "dir/k.png")
    assert parse_s3_reference("s3://b/k?bytes=0-0") == ObjectRange("b", "k", 0, 0)
    assert parse_s3_reference("s3://b/d/k?bytes=10-99") == ObjectRange("b", "d/k", 10, 99)
    # A key with a "?" that is not a byte range stays a plain key, as before.
    assert parse_s3_reference("s3://b/k?v=2") == ObjectRange("b", "k?v=2")


@pytest.mark.parametrize(
    "ref",
    [
        "s3://b/k?bytes=",
        "s3://b/k?bytes=5",
        "s3://b/k?bytes=5-",
        "s3://b/k?bytes=-5",
        "s3://b/k?bytes=a-5",
        "s3://b/k?bytes=1-x",
        "s3://b/k?bytes=9-3",
        "s3://b/k?bytes=1-2-3",
        "s3://b/k?bytes= 1-2",
        "s3://b/k?bytes=\u0661-\u0662",  # Arabic-Indic digits are not ASCII digits
        "s3://b/?bytes=1-2",
        "s3://b",
        "s3:///k",
    ],
)
def test_malformed_references_are_poison_with_a_reason(source_of: SourceFactory, ref: str) -> None:
    objects = FakeObjects({("b", "k"): b"0123456789"})
    [result] = source_of(objects).payloads([event(ref)])

    assert isinstance(result, InvalidEvent)
    assert "malformed" in str(result) or "ends before it starts" in str(result)
    assert objects.reads == []


def test_ranged_references_of_one_object_cost_one_read_and_slice_exactly(
    source_of: SourceFactory,
) -> None:
    body, refs = pack("b", "flight-1", IMAGES)
    other_body, other_refs = pack("b", "flight-2", IMAGES[:3])
    objects = FakeObjects({("b", "flight-1"): body, ("b", "flight-2"): other_body})
    # Shuffled, interleaved with another object and an inline payload.
    order = [7, 0, 19, 3, 12]
    events = [event(refs[i], f"a{i}") for i in order]
    events += [inline(), event(other_refs[2], "b2"), event(other_refs[0], "b0")]

    results = source_of(objects).payloads(events)

    assert results == [IMAGES[i] for i in order] + [b"inline-bytes", IMAGES[2], IMAGES[0]]
    per_object = sorted((key, start, length) for _, key, start, length in objects.reads)
    covered = sum(len(IMAGES[i]) for i in range(20))
    assert per_object == [
        ("flight-1", 0, covered),  # min start .. max end of the batch's images
        ("flight-2", 0, sum(len(IMAGES[i]) for i in range(3))),
    ]


def test_the_read_covers_only_the_batch_span(source_of: SourceFactory) -> None:
    body, refs = pack("b", "k", IMAGES)
    objects = FakeObjects({("b", "k"): body})

    results = source_of(objects).payloads([event(refs[5]), event(refs[8]), event(refs[5])])

    assert results == [IMAGES[5], IMAGES[8], IMAGES[5]]
    start = sum(len(im) for im in IMAGES[:5])
    end = sum(len(im) for im in IMAGES[:9])
    assert objects.reads == [("b", "k", start, end - start)]


def test_a_span_over_the_limit_is_split_into_covering_reads(source_of: SourceFactory) -> None:
    body, refs = pack("b", "k", IMAGES)
    objects = FakeObjects({("b", "k"): body})
    limit = 100

    results = source_of(objects, limit).payloads([event(r, str(i)) for i, r in enumerate(refs)])

    assert results == IMAGES
    assert len(objects.reads) > 1
    assert all(length is not None and length <= limit for _, _, _, length in objects.reads)
    # The reads tile the object without overlap or gap.
    offsets = sorted((s, n) for _, _, s, n in objects.reads if s is not None and n is not None)
    assert offsets[0][0] == 0
    assert all(a + n == b for (a, n), (b, _) in pairwise(offsets))
    assert offsets[-1][0] + offsets[-1][1] == len(body)


def test_an_image_bigger_than_the_limit_is_read_alone(source_of: SourceFactory) -> None:
    images = [b"x" * 50, b"y" * 5]
    body, refs = pack("b", "k", images)
    objects = FakeObjects({("b", "k"): body})

    assert source_of(objects, 10).payloads([event(refs[0]), event(refs[1])]) == images
    assert sorted(objects.reads) == [("b", "k", 0, 50), ("b", "k", 50, 5)]


def test_whole_object_references_are_one_capped_read_each(source_of: SourceFactory) -> None:
    objects = FakeObjects({("b", "one"): b"first", ("b", "two"): b"second"})
    events = [event("s3://b/one", "1"), event("s3://b/two", "2"), event("s3://b/one", "3")]

    assert source_of(objects).payloads(events) == [b"first", b"second", b"first"]
    cap = ImageLimits().max_bytes + 1  # never more than the largest image, plus one byte
    assert sorted(objects.reads) == [
        ("b", "one", 0, cap),
        ("b", "one", 0, cap),
        ("b", "two", 0, cap),
    ]


def test_missing_object_makes_only_its_events_poison(source_of: SourceFactory) -> None:
    body, refs = pack("b", "here", IMAGES[:2])
    objects = FakeObjects({("b", "here"): body})
    events = [
        event(refs[0], "ok0"),
        event("s3://b/gone?bytes=0-9", "gone0"),
        event("s3://b/gone?bytes=10-19", "gone1"),
        event("s3://b/also-gone", "gone2"),
        event(refs[1], "ok1"),
    ]

    results = source_of(objects).payloads(events)

    assert results[0] == IMAGES[0]
    assert results[4] == IMAGES[1]
    for i, eid in [(1, "gone0"), (2, "gone1"), (3, "gone2")]:
        assert isinstance(results[i], InvalidEvent)
        assert eid in str(results[i])
        assert "no such object" in str(results[i])
    assert sum(1 for _, key, _, _ in objects.reads if key == "gone") == 1


def test_a_range_past_the_object_end_is_poison_for_those_events_only(
    source_of: SourceFactory,
) -> None:
    objects = FakeObjects({("b", "k"): b"0123456789"})
    events = [
        event("s3://b/k?bytes=2-4", "inside"),
        event("s3://b/k?bytes=8-12", "straddles"),
        event("s3://b/k?bytes=40-49", "beyond"),
    ]

    results = source_of(objects).payloads(events)

    assert results[0] == b"234"
    for i in (1, 2):
        assert isinstance(results[i], InvalidEvent)
        assert "past the end" in str(results[i])
    assert len(objects.reads) == 1


@pytest.mark.parametrize(
    "outage",
    [
        InfrastructureUnavailable("object store unreachable"),
        ConnectionError("store is down"),
        TimeoutError("read timed out"),
    ],
)
def test_an_unreachable_store_propagates_so_the_batch_is_retried(
    source_of: SourceFactory, outage: Exception
) -> None:
    objects = FakeObjects({("b", "k"): b"0123456789"})
    objects.broken[("b", "k")] = outage
    source = source_of(objects)

    with pytest.raises(type(outage)):
        source.payloads([event("s3://b/k?bytes=0-3")])
    with pytest.raises(type(outage)):
        source.payloads([event("s3://b/k")])


@pytest.mark.parametrize(
    "refusal",
    [ValueError("invalid bucket name"), PermissionError("access denied"), RuntimeError("bug")],
)
def test_any_other_read_error_is_that_event_s_poison_and_the_rest_resolves(
    source_of: SourceFactory, refusal: Exception
) -> None:
    objects = FakeObjects({("b", "k"): b"0123456789", ("b", "ok"): b"fine"})
    objects.broken[("b", "k")] = refusal
    source = source_of(objects)

    results = source.payloads(
        [event("s3://b/k?bytes=0-3", "ranged"), event("s3://b/k", "whole"), event("s3://b/ok")]
    )

    for result in results[:2]:
        assert isinstance(result, InvalidEvent)
        assert f"{type(refusal).__name__}: {refusal}" in result.reason
        assert "s3://b/k" in result.reason
    assert results[2] == b"fine"


def test_a_nul_byte_in_a_file_reference_is_poison(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"file-bytes")
    source = ImageSource(None, tmp_path, threads=1)
    try:
        bad, good = source.payloads([event("a\x00.png", "nul"), event("a.png")])
    finally:
        source.close()

    assert isinstance(bad, InvalidEvent)
    assert "ValueError" in bad.reason
    assert "null byte" in bad.reason
    assert good == b"file-bytes"


def test_no_object_store_configured_is_poison(source_of: SourceFactory) -> None:
    [result] = source_of(None).payloads([event("s3://b/k?bytes=0-3")])

    assert isinstance(result, InvalidEvent)
    assert "no object store" in str(result)


def test_fetch_resolves_one_ranged_reference_or_raises(source_of: SourceFactory) -> None:
    objects = FakeObjects({("b", "k"): b"0123456789"})
    source = source_of(objects)

    assert source.fetch(event("s3://b/k?bytes=3-5")) == b"345"
    with pytest.raises(InvalidEvent, match="past the end"):
        source.fetch(event("s3://b/k?bytes=9-10"))


def test_file_references_still_resolve_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"file-bytes")
    source = ImageSource(FakeObjects({}), tmp_path, threads=2)
    try:
        results = source.payloads([event("a.png"), event("../escape.png")])
    finally:
        source.close()

    assert results[0] == b"file-bytes"
    assert isinstance(results[1], InvalidEvent)


def test_ranged_reference_refuses_an_empty_or_inverted_range() -> None:
    assert ranged_reference("b", "k", 0, 0) == "s3://b/k?bytes=0-0"
    with pytest.raises(ValueError):
        ranged_reference("b", "k", 5, 4)


LIMITS = ImageLimits(max_bytes=100, max_range_bytes=50, buckets=frozenset({"images"}))


def limited(objects: FakeObjects | None, root: Path | None = None) -> ImageSource:
    return ImageSource(objects, root, threads=1, limits=LIMITS)


def test_references_to_other_buckets_are_poison_and_never_read() -> None:
    objects = FakeObjects({("models", "sha256/x"): b"model", ("images", "a"): b"image"})
    source = limited(objects)
    try:
        result = source.payloads([event("s3://models/sha256/x"), event("s3://images/a")])
    finally:
        source.close()
    assert isinstance(result[0], InvalidEvent)
    assert "bucket 'models' is not one images may be read from" in result[0].reason
    assert result[1] == b"image"
    assert [read[:2] for read in objects.reads] == [("images", "a")]


def test_images_larger_than_the_limit_are_poison_inline_or_referenced() -> None:
    big = ImageEvent("big", 0, "t", ContentType.PNG, bytes(101))
    objects = FakeObjects({("images", "huge"): bytes(10_000), ("images", "ok"): bytes(100)})
    source = limited(objects)
    try:
        too_big, huge, ok = source.payloads(
            [big, event("s3://images/huge"), event("s3://images/ok")]
        )
        long_range = source.payloads([event("s3://images/huge?bytes=0-50")])[0]
    finally:
        source.close()
    assert isinstance(too_big, InvalidEvent) and "101 bytes is larger than" in too_big.reason
    assert isinstance(huge, InvalidEvent) and "ARENA_IMAGES_MAX_BYTES" in huge.reason
    assert ok == bytes(100)
    assert ("images", "huge", 0, 101) in objects.reads, "read capped at the limit + 1 byte"
    assert isinstance(long_range, InvalidEvent)
    assert "byte range of 51 bytes is longer than 50" in long_range.reason
    assert len(objects.reads) == 2, "a range that is too long is never read"


def test_file_references_never_follow_a_symlink(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "flights").mkdir(parents=True)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"outside the root")
    (root / "flights" / "ok.png").write_bytes(b"photo")
    (root / "flights" / "link.png").symlink_to(secret)
    (root / "inside.png").symlink_to(root / "flights" / "ok.png")  # even one inside the root
    (root / "dirlink").symlink_to(root / "flights")
    source = limited(None, root)
    try:
        refs = ["flights/ok.png", "flights/link.png", "inside.png", "dirlink/ok.png"]
        ok, *refused = source.payloads([event(r) for r in refs])
    finally:
        source.close()
    assert ok == b"photo"
    for result in refused:
        assert isinstance(result, InvalidEvent), result
        assert "symbolic link" in result.reason


def test_fifos_devices_and_big_files_are_refused(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe.png")  # opening it must not wait for a writer
    (tmp_path / "big.png").write_bytes(bytes(101))
    (tmp_path / "dir.png").mkdir()
    source = limited(None, tmp_path)
    try:
        pipe, big, directory = source.payloads(
            [event("pipe.png"), event("big.png"), event("dir.png")]
        )
    finally:
        source.close()
    assert isinstance(pipe, InvalidEvent) and "not a regular file" in pipe.reason
    assert isinstance(big, InvalidEvent) and "larger than" in big.reason
    assert isinstance(directory, InvalidEvent) and "directory" in directory.reason
    devices = limited(None, Path("/dev"))
    try:
        null = devices.payloads([event("null")])[0]
    finally:
        devices.close()
    assert isinstance(null, InvalidEvent) and "not a regular file" in null.reason
