"""The event contract: ImageEvent, LabelEvent, Prediction, ModelEvent, ScorerStatus.

Images are the hot path (over 10,000 a second per scorer), so an ImageEvent is a compact
binary frame: a 21-byte fixed header, the event id, the source id, then the payload (the
encoded image, or a reference to it). Everything else is low volume and is compact JSON,
which any consumer can read. Every schema carries its version; see docs/events.md.
"""

from __future__ import annotations

import json
import struct
import time
import uuid
from dataclasses import dataclass, field, fields
from enum import IntEnum, StrEnum
from typing import Any

from arena.errors import InvalidEvent
from arena.flavors import N_CLASSES

IMAGE_MAGIC = b"AI"
IMAGE_SCHEMA_VERSION = 1
_IMAGE_HEADER = struct.Struct(">2sBBqhBBBHH")
_FLAG_LABEL = 0x01
_FLAG_REFERENCE = 0x02


class ContentType(IntEnum):
    """How an ImageEvent's payload is encoded."""

    RAW_GRAY8 = 0  # height*width bytes, row-major; the fastest to decode
    PNG = 1
    JPEG = 2
    ENCODED = 3  # any format Pillow can sniff


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class ImageEvent:
    """A photo to score: inline bytes, or a reference (``s3://bucket/key`` or a file path)."""

    event_id: str
    timestamp_ms: int
    source: str
    content_type: ContentType
    payload: bytes = b""
    reference: str | None = None
    label: int | None = None
    height: int = 0
    width: int = 0

    def __post_init__(self) -> None:
        if not self.event_id:
            raise InvalidEvent("image event: empty event id")
        if self.reference is not None and self.payload:
            raise InvalidEvent("image event: has both a reference and an inline payload")
        if self.reference is None and not self.payload:
            raise InvalidEvent("image event: neither inline payload nor reference")
        if self.content_type == ContentType.RAW_GRAY8 and self.reference is None:
            if self.height <= 0 or self.width <= 0:
                raise InvalidEvent("image event: raw gray8 payload needs height and width")
            if len(self.payload) != self.height * self.width:
                raise InvalidEvent(
                    f"image event: raw payload is {len(self.payload)} bytes, "
                    f"expected {self.height}x{self.width}"
                )
        if self.label is not None and not 0 <= self.label < 32768:
            raise InvalidEvent(f"image event: label {self.label} out of range")


def encode_image_event(event: ImageEvent) -> bytes:
    """Encode an ImageEvent as its binary frame (see docs/events.md)."""
    eid = event.event_id.encode()
    src = event.source.encode()
    if len(eid) > 255 or len(src) > 255:
        raise InvalidEvent("image event: event id and source must be at most 255 bytes")
    flags = (_FLAG_LABEL if event.label is not None else 0) | (
        _FLAG_REFERENCE if event.reference is not None else 0
    )
    body = event.reference.encode() if event.reference is not None else event.payload
    header = _IMAGE_HEADER.pack(
        IMAGE_MAGIC,
        IMAGE_SCHEMA_VERSION,
        flags,
        event.timestamp_ms,
        -1 if event.label is None else event.label,
        len(eid),
        len(src),
        int(event.content_type),
        event.height,
        event.width,
    )
    return b"".join((header, eid, src, body))


def decode_image_event(data: bytes | None) -> ImageEvent:
    """Decode a binary frame; raise InvalidEvent with the reason when it is malformed."""
    if not data:
        raise InvalidEvent("image event: empty value")
    if len(data) < _IMAGE_HEADER.size:
        raise InvalidEvent(f"image event: {len(data)} bytes is shorter than the header")
    magic, version, flags, ts, label, n_eid, n_src, ctype, height, width = (
        _IMAGE_HEADER.unpack_from(data)
    )
    if magic != IMAGE_MAGIC:
        raise InvalidEvent(f"image event: bad magic {magic!r}")
    if version != IMAGE_SCHEMA_VERSION:
        raise InvalidEvent(f"image event: unsupported schema version {version}")
    try:
        content_type = ContentType(ctype)
    except ValueError:
        raise InvalidEvent(f"image event: unknown content type {ctype}") from None
    start = _IMAGE_HEADER.size
    end_eid = start + n_eid
    end_src = end_eid + n_src
    if len(data) < end_src:
        raise InvalidEvent("image event: truncated event id or source")
    try:
        event_id = data[start:end_eid].decode()
        source = data[end_eid:end_src].decode()
        body = data[end_src:]
        reference = body.decode() if flags & _FLAG_REFERENCE else None
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"image event: invalid utf-8 ({exc.reason})") from None
    return ImageEvent(
        event_id=event_id,
        timestamp_ms=ts,
        source=source,
        content_type=content_type,
        payload=b"" if reference is not None else body,
        reference=reference,
        label=label if flags & _FLAG_LABEL else None,
        height=height,
        width=width,
    )


def _dump(schema: str, obj: Any) -> bytes:
    # Field by field, not dataclasses.asdict: asdict deep-copies recursively, 5x slower.
    doc = {"schema": schema}
    doc.update((f.name, getattr(obj, f.name)) for f in fields(obj))
    return json.dumps(doc, separators=(",", ":")).encode()


def _load(schema: str, data: bytes | None) -> dict[str, Any]:
    if not data:
        raise InvalidEvent(f"{schema}: empty value")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise InvalidEvent(f"{schema}: not JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(doc, dict):
        raise InvalidEvent(f"{schema}: expected a JSON object")
    got = doc.pop("schema", None)
    if got != schema:
        raise InvalidEvent(f"{schema}: unexpected schema {got!r}")
    return doc


def _construct(cls: type[Any], schema: str, doc: dict[str, Any]) -> Any:
    try:
        return cls(**doc)
    except TypeError as exc:
        raise InvalidEvent(f"{schema}: {exc}") from None


LABEL_SCHEMA = "label/1"
PREDICTION_SCHEMA = "prediction/1"
MODEL_EVENT_SCHEMA = "model-event/1"
SCORER_STATUS_SCHEMA = "scorer-status/1"


@dataclass(frozen=True, slots=True)
class LabelEvent:
    """The true label of an image, which may arrive long after the image."""

    event_id: str
    label: int
    timestamp_ms: int

    def __post_init__(self) -> None:
        # JSON can put any type in any field: check them all, or a bad label crashes the
        # trainer (and every restart of it) instead of being dead-lettered.
        if not isinstance(self.event_id, str) or not self.event_id:
            raise InvalidEvent(
                f"label event: event id must be a non-empty string, got {self.event_id!r}"
            )
        if not _is_int(self.label) or self.label < 0:
            raise InvalidEvent(
                f"label event: label must be a non-negative integer, got {self.label!r}"
            )
        if not _is_int(self.timestamp_ms):
            raise InvalidEvent(
                f"label event: timestamp_ms must be an integer, got {self.timestamp_ms!r}"
            )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def encode_label_event(event: LabelEvent) -> bytes:
    return _dump(LABEL_SCHEMA, event)


def decode_label_event(data: bytes | None, *, n_classes: int = N_CLASSES) -> LabelEvent:
    """Decode a label; InvalidEvent unless it names one of the model's ``n_classes`` classes."""
    event: LabelEvent = _construct(LabelEvent, LABEL_SCHEMA, _load(LABEL_SCHEMA, data))
    check_label(event.label, n_classes, f"label event {event.event_id}: label")
    return event


def check_label(label: int, n_classes: int, what: str) -> None:
    """InvalidEvent ``"<what> <label> is outside ..."`` unless ``0 <= label < n_classes``."""
    if not 0 <= label < n_classes:
        raise InvalidEvent(f"{what} {label} is outside the model's classes 0..{n_classes - 1}")


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a scorer said about one image, and with which model version."""

    event_id: str
    model_version: int
    label: int
    top_k: list[tuple[int, float]]
    latency_ms: float
    event_timestamp_ms: int
    scorer_id: str = ""


def encode_prediction(p: Prediction) -> bytes:
    return _dump(PREDICTION_SCHEMA, p)


def decode_prediction(data: bytes | None) -> Prediction:
    doc = _load(PREDICTION_SCHEMA, data)
    doc["top_k"] = [(int(c), float(pr)) for c, pr in doc.get("top_k", [])]
    return _construct(Prediction, PREDICTION_SCHEMA, doc)  # type: ignore[no-any-return]


class ModelEventKind(StrEnum):
    PROMOTED = "promoted"
    PINNED = "pinned"
    UNPINNED = "unpinned"
    ROLLED_BACK = "rolled_back"


SERVING_KEY = b"serving"  # the compacted control topic keeps the latest record per key


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """The control stream: "serve this version now", and why.

    Every kind names the version scorers must serve after it (for ``unpinned``, the champion).
    """

    kind: ModelEventKind
    version: int
    artifact_uri: str
    sha256: str
    flavor: str
    reason: str = ""
    actor: str = ""
    timestamp_ms: int = field(default_factory=now_ms)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", ModelEventKind(self.kind))
        except ValueError:
            raise InvalidEvent(f"model event: unknown kind {self.kind!r}") from None
        if not _is_int(self.version) or self.version < 1:
            raise InvalidEvent(
                f"model event: version must be an integer >= 1, got {self.version!r}"
            )
        if not _is_hex64(self.sha256):
            raise InvalidEvent("model event: sha256 must be 64 hex characters")
        for name in ("artifact_uri", "flavor"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise InvalidEvent(f"model event: {name} must be a non-empty string")
        for name in ("reason", "actor"):
            if not isinstance(getattr(self, name), str):
                raise InvalidEvent(f"model event: {name} must be a string")
        if not _is_int(self.timestamp_ms):
            raise InvalidEvent("model event: timestamp_ms must be an integer")


def _is_hex64(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) == 64
        and all(c in "0123456789abcdefABCDEF" for c in value)
    )


def encode_model_event(e: ModelEvent) -> bytes:
    return _dump(MODEL_EVENT_SCHEMA, e)


def decode_model_event(data: bytes | None) -> ModelEvent:
    return _construct(ModelEvent, MODEL_EVENT_SCHEMA, _load(MODEL_EVENT_SCHEMA, data))  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class ScorerStatus:
    """A scorer's acknowledgement: "scorer X now serves version V" (or failed to load it).

    A scorer also repeats its latest status every heartbeat, with a fresh ``timestamp_ms``
    and the header ``status.kind: heartbeat`` (see ``is_heartbeat``); the value is the same.
    """

    scorer_id: str
    version: int
    state: str  # "serving", "load_failed" or "unhealthy" (the served model outputs NaN)
    error: str = ""
    timestamp_ms: int = field(default_factory=now_ms)


def encode_scorer_status(s: ScorerStatus) -> bytes:
    return _dump(SCORER_STATUS_SCHEMA, s)


def decode_scorer_status(data: bytes | None) -> ScorerStatus:
    return _construct(ScorerStatus, SCORER_STATUS_SCHEMA, _load(SCORER_STATUS_SCHEMA, data))  # type: ignore[no-any-return]


# A heartbeat repeats the scorer's latest status; only this header tells it from a change
# (the value stays ``scorer-status/1``, so readers of the latest state need nothing new).
STATUS_KIND_HEADER = "status.kind"
HEARTBEAT = b"heartbeat"
HEARTBEAT_HEADERS: list[tuple[str, str | bytes | None]] = [(STATUS_KIND_HEADER, HEARTBEAT)]
# A scorer whose latest status is older than this many heartbeats is not heard from: stale.
STALE_AFTER_HEARTBEATS = 3


def is_heartbeat(headers: list[tuple[str, str | bytes | None]] | None) -> bool:
    """Whether a status record's headers mark it as a heartbeat rather than a change."""
    return (STATUS_KIND_HEADER, HEARTBEAT) in (headers or [])


def is_stale(status: ScorerStatus, heartbeat_s: float, now: int | None = None) -> bool:
    """Whether ``status`` is older than ``STALE_AFTER_HEARTBEATS`` heartbeats of
    ``heartbeat_s`` seconds at ``now`` (ms; default: now). Never with heartbeats off (0)."""
    if heartbeat_s <= 0:
        return False
    age_ms = (now_ms() if now is None else now) - status.timestamp_ms
    return age_ms > STALE_AFTER_HEARTBEATS * heartbeat_s * 1000
