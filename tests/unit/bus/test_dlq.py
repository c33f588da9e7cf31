from __future__ import annotations

from arena.bus.dlq import MAX_REASON_BYTES, dead_letter_record
from arena.config import KafkaSettings
from tests.unit.bus.fakes import FakeMessage


def test_dead_letter_keeps_key_and_value_and_names_error_and_origin() -> None:
    msg = FakeMessage("arena.images", 3, 42, key_=b"id-1", value_=b"\x00junk", timestamp_ms=123)
    record = dead_letter_record(msg, "image event: bad magic", KafkaSettings())
    assert record.topic == "arena.images.dlq"
    assert (record.key, record.value) == (b"id-1", b"\x00junk")
    assert record.partition is None
    assert dict(record.headers) == {
        "error": b"image event: bad magic",
        "origin.topic": b"arena.images",
        "origin.partition": b"3",
        "origin.offset": b"42",
        "origin.timestamp": b"123",
    }


def test_dead_letter_keeps_original_headers_but_not_stale_failure_headers() -> None:
    msg = FakeMessage(
        "t", 0, 1, headers_=[("trace", "abc"), ("error", b"old reason"), ("empty", None)]
    )
    headers = dead_letter_record(msg, "new reason", KafkaSettings()).headers
    assert [v for k, v in headers if k == "error"] == [b"new reason"]
    assert ("trace", b"abc") in headers
    assert ("empty", b"") in headers


def test_dead_letter_accepts_dict_headers() -> None:
    msg = FakeMessage("t", 0, 1, headers_={"trace": b"xyz"})
    assert ("trace", b"xyz") in dead_letter_record(msg, "r", KafkaSettings()).headers


def test_huge_reason_is_truncated() -> None:
    record = dead_letter_record(FakeMessage("t", 0, 1), "x" * 100_000, KafkaSettings())
    assert len(dict(record.headers)["error"]) == MAX_REASON_BYTES
