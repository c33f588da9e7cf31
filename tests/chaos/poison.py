"""Poison records of every kind the event contract refuses (docs/events.md), and bad labels.

Each poison image is keyed by an id the ledger tracks, so the scenario proves that every
one of them reached ``arena.images.dlq`` (with its reason) and none was predicted.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from arena.events import now_ms

_HEADER = struct.Struct(">2sBBqhBBBHH")
_RAW = bytes(range(256)) * 3 + bytes(16)  # 784 bytes: one valid 28x28 raw payload
RAW_GRAY8, PNG, JPEG = 0, 1, 2
FLAG_LABEL, FLAG_REFERENCE = 1, 2


def frame(
    key: str,
    body: bytes,
    *,
    magic: bytes = b"AI",
    version: int = 1,
    flags: int = 0,
    ctype: int = RAW_GRAY8,
    size: tuple[int, int] = (28, 28),
    label: int = -1,
    id_bytes: bytes | None = None,
) -> bytes:
    """An image frame built byte by byte, so it can break any rule the encoder enforces."""
    eid = key.encode() if id_bytes is None else id_bytes
    src = b"chaos"
    header = _HEADER.pack(
        magic, version, flags, now_ms(), label, len(eid), len(src), ctype, size[0], size[1]
    )
    return header + eid + src + body


@cache
def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.zeros((height, width), dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


@cache
def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(out, format="JPEG")
    return out.getvalue()


@dataclass(frozen=True)
class PoisonContext:
    bucket: str  # the image bucket
    existing_key: str  # a small object that exists in it (for a range past its end)


PoisonMaker = Callable[[str, PoisonContext], bytes | None]


def _ref(ref: str) -> Callable[[str, PoisonContext], bytes | None]:
    def make(key: str, ctx: PoisonContext) -> bytes:
        return frame(
            key,
            ref.format(key=key, b=ctx.bucket, k=ctx.existing_key).encode(),
            flags=FLAG_REFERENCE,
            ctype=PNG,
            size=(0, 0),
        )

    return make


POISON_KINDS: dict[str, PoisonMaker] = {
    "tombstone": lambda key, ctx: None,
    "empty_value": lambda key, ctx: b"",
    "bad_magic": lambda key, ctx: frame(key, _RAW, magic=b"XX"),
    "unknown_version": lambda key, ctx: frame(key, _RAW, version=9),
    "unknown_content_type": lambda key, ctx: frame(key, _RAW, ctype=42),
    "truncated_header": lambda key, ctx: frame(key, _RAW)[:12],
    "truncated_id": lambda key, ctx: frame(key, b"")[: _HEADER.size + 3],
    "invalid_utf8_id": lambda key, ctx: frame(key, _RAW, id_bytes=b"\xff\xfe\xfd"),
    "empty_id": lambda key, ctx: frame(key, _RAW, id_bytes=b""),
    "no_body": lambda key, ctx: frame(key, b""),
    "raw_size_mismatch": lambda key, ctx: frame(key, _RAW[:100]),
    "raw_without_size": lambda key, ctx: frame(key, _RAW, size=(0, 0)),
    "label_out_of_range": lambda key, ctx: frame(key, _RAW, flags=FLAG_LABEL, label=-5),
    "undecodable_png": lambda key, ctx: frame(key, b"\x89PNG\r\n\x1a\nnot really", ctype=PNG),
    "jpeg_declared_png": lambda key, ctx: frame(key, _jpeg(), ctype=PNG, size=(0, 0)),
    "decompression_bomb": lambda key, ctx: frame(key, _png(5000, 5000), ctype=PNG, size=(0, 0)),
    "invalid_utf8_reference": lambda key, ctx: frame(
        key, b"s3://\xff\xfe", flags=FLAG_REFERENCE, ctype=PNG, size=(0, 0)
    ),
    "missing_object": _ref("s3://{b}/chaos/missing/{key}.png"),
    "malformed_range": _ref("s3://{b}/{k}?bytes=10-2"),
    "range_past_end": _ref("s3://{b}/{k}?bytes=0-99999999"),
    "file_reference_without_root": _ref("digits/{key}.png"),
    "path_escape": _ref("../../../etc/{key}"),
}


def poison_record(i: int, run: str, ctx: PoisonContext) -> tuple[str, str, bytes | None]:
    """The i-th poison record, cycling through every kind: (key, kind, value)."""
    kinds = list(POISON_KINDS)
    kind = kinds[i % len(kinds)]
    key = f"{run}-poison-{kind}-{i:06d}"
    return key, kind, POISON_KINDS[kind](key, ctx)


def _label(event_id: str, label: object, **extra: object) -> bytes:
    doc = {"schema": "label/1", "event_id": event_id, "label": label, "timestamp_ms": now_ms()}
    doc.update(extra)
    return json.dumps(doc).encode()


# Bad labels: (kind, value given the id of a real image). Semantic ones (no such class,
# negative) name real images, so the join would feed them to training if not refused.
BAD_LABELS: dict[str, Callable[[str], bytes | None]] = {
    "tombstone": lambda eid: None,
    "empty_value": lambda eid: b"",
    "not_json": lambda eid: b"seven, I think",
    "invalid_utf8": lambda eid: b'{"schema":"label/1","event_id":"\xff\xfe"}',
    "json_array": lambda eid: b"[7]",
    "wrong_schema": lambda eid: _label(eid, 7, schema="label/9"),
    "missing_label": lambda eid: json.dumps({"schema": "label/1", "event_id": eid}).encode(),
    "unknown_field": lambda eid: _label(eid, 7, confidence=0.9),
    "empty_event_id": lambda eid: _label("", 7),
    "string_label": lambda eid: _label(eid, "7"),
    "float_label": lambda eid: _label(eid, 7.5),
    "bool_label": lambda eid: _label(eid, True),
    "null_label": lambda eid: _label(eid, None),
    "negative_label": lambda eid: _label(eid, -1),
    "no_such_class": lambda eid: _label(eid, 10),
    "huge_label": lambda eid: _label(eid, 2**40),
}
