"""What the watcher publishes, what it records, and what it does after a restart or failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arena.bus.stop import StopFlag
from arena.errors import DeliveryError
from arena.events import ContentType
from arena.ingest.watch import image_event_id
from tests.unit.ingest.conftest import OLD_NS, Rig, write


def ledger_lines(rig: Rig) -> list[dict[str, object]]:
    return [json.loads(line) for line in rig.ledger_path.read_text().splitlines()]


def test_each_file_becomes_an_image_event_referring_to_its_uploaded_object(rig: Rig) -> None:
    write(rig.root, "a.png", b"png-bytes", mtime_ns=OLD_NS + 123_456_789)
    write(rig.root, "b.jpg", b"jpg-bytes", mtime_ns=OLD_NS + 999_000_000)
    write(rig.root, "c.webp", b"webp-bytes", mtime_ns=OLD_NS + 2_000_000_000)

    rig.watcher().scan_once()

    a, b, c = rig.publisher.delivered
    assert a.event_id == image_event_id("drone-7", "a.png", 9, OLD_NS + 123_456_789)
    assert a.timestamp_ms == (OLD_NS + 123_456_789) // 1_000_000
    assert (a.source, a.payload, a.reference) == ("drone-7", b"", "s3://images/drone-7/a.png")
    assert [e.content_type for e in (a, b, c)] == [
        ContentType.PNG,
        ContentType.JPEG,
        ContentType.ENCODED,
    ]
    assert rig.uploader.objects["drone-7/c.webp"] == (b"webp-bytes", "image/webp")


def test_event_ids_are_deterministic_per_file_version() -> None:
    base = image_event_id("drone-7", "a.png", 10, 5)
    assert base == image_event_id("drone-7", "a.png", 10, 5)
    others = [
        image_event_id("drone-8", "a.png", 10, 5),
        image_event_id("drone-7", "b.png", 10, 5),
        image_event_id("drone-7", "a.png", 11, 5),
        image_event_id("drone-7", "a.png", 10, 6),
    ]
    assert base not in others
    assert len(set(others)) == len(others)
    assert len(base) == 32 and int(base, 16) >= 0


def test_a_restarted_watcher_does_not_republish_what_the_ledger_records(rig: Rig) -> None:
    write(rig.root, "a.png")
    write(rig.root, "b.png")
    rig.watcher().scan_once()
    first = list(rig.publisher.delivered)

    write(rig.root, "c.png")
    report = rig.watcher().scan_once()  # a new process: only the ledger file is shared

    assert [e.path for e in report.published] == ["c.png"]
    assert rig.publisher.delivered[: len(first)] == first
    assert rig.delivered_paths() == ["a.png", "b.png", "c.png"]
    recorded = ledger_lines(rig)
    assert [(r["path"], r["status"]) for r in recorded] == [
        ("a.png", "published"),
        ("b.png", "published"),
        ("c.png", "published"),
    ]
    assert recorded[2]["event_id"] == rig.publisher.delivered[2].event_id
    assert recorded[2]["uri"] == "s3://images/drone-7/c.png"


def test_a_file_rewritten_later_is_a_new_photo_with_a_new_event_id(rig: Rig) -> None:
    write(rig.root, "IMG_0001.jpg", b"first flight")
    rig.watcher().scan_once()
    write(rig.root, "IMG_0001.jpg", b"second flight", mtime_ns=OLD_NS + 1_000)

    rig.watcher().scan_once()

    first, second = rig.publisher.delivered
    assert first.event_id != second.event_id
    assert rig.uploader.objects["drone-7/IMG_0001.jpg"][0] == b"second flight"


def test_the_ledger_is_written_only_after_delivery_and_a_retry_keeps_the_event_ids(
    rig: Rig,
) -> None:
    write(rig.root, "a.png")
    rig.publisher.fail_next_flush = DeliveryError("broker down", retriable=True)
    watcher = rig.watcher()

    with pytest.raises(DeliveryError):
        watcher.scan_once()
    assert not rig.ledger_path.exists()

    watcher.scan_once()
    (event,) = rig.publisher.delivered
    assert event.event_id == image_event_id("drone-7", "a.png", 10, OLD_NS)
    assert ledger_lines(rig)[0]["event_id"] == event.event_id


def test_oversized_empty_and_unreadable_files_are_recorded_as_skipped_with_a_reason(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    write(rig.root, "huge.png", b"x" * 101)
    write(rig.root, "empty.png", b"")
    locked = write(rig.root, "locked.png")
    write(rig.root, "fine.png")
    from arena.ingest import watch

    read = watch._read_regular_file

    def refuse(path: Path, max_bytes: int) -> Any:
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return read(path, max_bytes)

    monkeypatch.setattr(watch, "_read_regular_file", refuse)

    report = rig.watcher(max_file_bytes=100).scan_once()

    assert rig.delivered_paths() == ["fine.png"]
    reasons = {e.path: e.reason for e in report.skipped}
    assert reasons.keys() == {"huge.png", "empty.png", "locked.png"}
    assert "101 bytes exceeds the 100 limit" in reasons["huge.png"]
    assert "Permission denied" in reasons["locked.png"]
    assert {r["path"] for r in ledger_lines(rig) if r["status"] == "skipped"} == reasons.keys()
    for path in reasons:
        assert f"skipping {path}" in caplog.text

    assert rig.watcher(max_file_bytes=100).scan_once().skipped == [], "not retried forever"


def test_stopping_between_batches_records_what_was_delivered(rig: Rig) -> None:
    for name in ["a.png", "b.png", "c.png"]:
        write(rig.root, name, mtime_ns=OLD_NS + ord(name[0]))
    stop = StopFlag()
    publish = rig.publisher.publish

    def publish_then_stop(event: object) -> None:
        publish(event)  # type: ignore[arg-type]
        stop.set()

    rig.publisher.publish = publish_then_stop  # type: ignore[method-assign]

    rig.watcher(batch_size=2).scan_once(stop)

    assert rig.delivered_paths() == ["a.png", "b.png"]
    assert [r["path"] for r in ledger_lines(rig)] == ["a.png", "b.png"]


@pytest.mark.timeout(10)
def test_run_retries_a_retriable_delivery_failure_then_stops_on_the_flag(rig: Rig) -> None:
    write(rig.root, "a.png")
    rig.publisher.fail_next_flush = DeliveryError("broker down", retriable=True)
    stop = StopFlag()
    flush = rig.publisher.flush

    def flush_then_stop_once_delivered() -> None:
        flush()
        stop.set()

    rig.publisher.flush = flush_then_stop_once_delivered  # type: ignore[method-assign]

    rig.watcher().run(stop, interval_s=0.01)

    assert rig.delivered_paths() == ["a.png"]


@pytest.mark.timeout(10)
def test_run_raises_a_delivery_failure_that_retrying_cannot_fix(rig: Rig) -> None:
    write(rig.root, "a.png")
    rig.publisher.fail_next_flush = DeliveryError("topic does not exist", retriable=False)

    with pytest.raises(DeliveryError, match="topic does not exist"):
        rig.watcher().run(StopFlag(), interval_s=0.01)
    assert not rig.ledger_path.exists()
