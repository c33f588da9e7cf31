from __future__ import annotations

import json
import re

import pytest

from arena.errors import InvalidEvent
from arena.events import (
    ContentType,
    ImageEvent,
    LabelEvent,
    ModelEvent,
    ModelEventKind,
    Prediction,
    ScorerStatus,
    decode_image_event,
    decode_label_event,
    decode_model_event,
    decode_prediction,
    decode_scorer_status,
    encode_image_event,
    encode_label_event,
    encode_model_event,
    encode_prediction,
    encode_scorer_status,
    is_heartbeat,
    is_stale,
)

RAW = bytes(range(256)) * 3 + bytes(16)  # 784 bytes: one 28x28 image


def _image(**kw: object) -> ImageEvent:
    base: dict[str, object] = {
        "event_id": "e-1",
        "timestamp_ms": 1_700_000_000_123,
        "source": "drone-7",
        "content_type": ContentType.RAW_GRAY8,
        "payload": RAW,
        "height": 28,
        "width": 28,
    }
    base.update(kw)
    return ImageEvent(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "event",
    [
        _image(),
        _image(label=7),
        _image(content_type=ContentType.PNG, payload=b"\x89PNG...", height=0, width=0),
        _image(
            content_type=ContentType.JPEG,
            payload=b"",
            reference="s3://arena-images/drone-7/0001.jpg",
            height=0,
            width=0,
        ),
    ],
)
def test_image_event_round_trip(event: ImageEvent) -> None:
    assert decode_image_event(encode_image_event(event)) == event


def test_image_frame_is_compact() -> None:
    frame = encode_image_event(_image(event_id="0" * 32))
    assert len(frame) == 21 + 32 + len("drone-7") + 784


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty value"),
        (b"AI\x01", "shorter than the header"),
        (b"XX" + bytes(40), "bad magic"),
        (encode_image_event(_image())[:-1], "raw payload is 783 bytes"),
        (b"AI\x09" + bytes(40), "unsupported schema version 9"),
    ],
)
def test_malformed_image_frames_raise_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason) as info:
        decode_image_event(data)
    assert reason in info.value.reason


def test_image_event_needs_exactly_one_of_payload_and_reference() -> None:
    with pytest.raises(InvalidEvent, match="neither"):
        _image(payload=b"", content_type=ContentType.PNG)
    with pytest.raises(InvalidEvent, match="both"):
        _image(content_type=ContentType.PNG, reference="s3://b/k")


def test_json_events_round_trip() -> None:
    label = LabelEvent(event_id="e-1", label=3, timestamp_ms=5)
    assert decode_label_event(encode_label_event(label)) == label
    pred = Prediction("e-1", 4, 3, [(3, 0.9), (8, 0.05)], 1.5, 5, "scorer-a")
    assert decode_prediction(encode_prediction(pred)) == pred
    model = ModelEvent(ModelEventKind.PINNED, 4, "s3://m/sha256/ab", "a" * 64, "keras", "ops", "me")
    assert decode_model_event(encode_model_event(model)) == model
    status = ScorerStatus("scorer-a", 4, "serving")
    assert decode_scorer_status(encode_scorer_status(status)) == status


def test_only_the_status_kind_header_tells_a_heartbeat_from_a_change() -> None:
    assert is_heartbeat([("status.kind", b"heartbeat")])
    assert is_heartbeat([("other", b"x"), ("status.kind", b"heartbeat")])
    assert not is_heartbeat(None) and not is_heartbeat([])  # a change: no header
    assert not is_heartbeat([("status.kind", b"something-else")])


def test_a_status_older_than_three_heartbeats_is_stale_unless_heartbeats_are_off() -> None:
    status = ScorerStatus("scorer-a", 4, "serving", timestamp_ms=100_000)
    assert not is_stale(status, 10.0, now=130_000)  # exactly 3 heartbeats: still fresh
    assert is_stale(status, 10.0, now=130_001)
    assert not is_stale(status, 0.0, now=10**12)  # no heartbeats: age tells nothing


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1,2]", "expected a JSON object"),
        (b'{"schema":"prediction/1","event_id":"e","label":1}', "unexpected schema"),
        (b'{"schema":"label/1","event_id":"e"}', "label/1"),
        (b'{"schema":"label/1","event_id":"e","label":-1,"timestamp_ms":1}', "non-negative"),
    ],
)
def test_malformed_label_events_raise(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        decode_label_event(data)


def _label_doc(event_id: object = "e", label: object = 3, timestamp_ms: object = 1) -> bytes:
    doc = {"schema": "label/1", "event_id": event_id, "label": label, "timestamp_ms": timestamp_ms}
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_label_doc(event_id=7), "event id must be a non-empty string"),
        (_label_doc(event_id=["e"]), "event id must be a non-empty string"),
        (_label_doc(label=10), "outside the model's classes 0..9"),
        (_label_doc(label=2**63), "outside the model's classes 0..9"),
        (_label_doc(label=True), "label must be a non-negative integer"),
        (_label_doc(label=2.0), "label must be a non-negative integer"),
        (_label_doc(label="3"), "label must be a non-negative integer"),
        (b'{"schema":"label/1","event_id":"e","label":NaN,"timestamp_ms":1}', "integer"),
        (_label_doc(timestamp_ms="now"), "timestamp_ms must be an integer"),
        (b'{"schema":"label/1","event_id":"e","label":' + b"[" * 100_000, "label/1"),
    ],
)
def test_labels_a_model_cannot_learn_are_invalid(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=re.escape(reason)):
        decode_label_event(data)


def test_the_class_range_of_labels_follows_the_model() -> None:
    assert decode_label_event(_label_doc(label=9)).label == 9
    assert decode_label_event(_label_doc(label=99), n_classes=100).label == 99
    with pytest.raises(InvalidEvent, match=re.escape("classes 0..1")):
        decode_label_event(_label_doc(label=2), n_classes=2)


def test_model_event_rejects_unknown_kind_and_bad_hash() -> None:
    with pytest.raises(InvalidEvent, match="unknown kind"):
        ModelEvent("exploded", 1, "s3://x", "a" * 64, "keras")  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent, match="sha256"):
        ModelEvent(ModelEventKind.PROMOTED, 1, "s3://x", "abc", "keras")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", "x"),
        ("version", 0),
        ("version", True),
        ("sha256", "z" * 64),
        ("flavor", ""),
        ("artifact_uri", 5),
        ("reason", None),
        ("timestamp_ms", "soon"),
    ],
)
def test_a_model_event_with_a_wrong_field_is_invalid(field: str, value: object) -> None:
    doc = json.loads(
        encode_model_event(
            ModelEvent(ModelEventKind.PROMOTED, 3, "s3://m/sha256/x", "a" * 64, "keras")
        )
    )
    doc[field] = value
    with pytest.raises(InvalidEvent):
        decode_model_event(json.dumps(doc).encode())
