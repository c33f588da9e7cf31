"""The artifact envelope of the River and scikit-learn flavors, and River's pickle format.

An artifact is an envelope ``{"arena_flavor", "format", "input_shape", "n_classes",
"model"}`` so that loading can tell a River artifact from a scikit-learn one, and check the
input shape, before the model is ever used. River's is pickled; scikit-learn's is written
with skops, which cannot run code (``arena.flavors.sklearn_sgd``).

Unpickling runs code from the artifact. That is acceptable only because every loader
(``storage.model_loader.ModelLoader``) first checks the version's signature, made with a
key neither the registry nor the bucket holds, and the bytes' sha256 against it, before
they reach ``load_envelope``; never call it on bytes from anywhere else.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

from arena.errors import ModelLoadError

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Envelope:
    input_shape: tuple[int, int]
    n_classes: int
    model: Any


def dump_envelope(flavor: str, envelope: Envelope) -> bytes:
    return pickle.dumps(
        {
            "arena_flavor": flavor,
            "format": FORMAT_VERSION,
            "input_shape": envelope.input_shape,
            "n_classes": envelope.n_classes,
            "model": envelope.model,
        },
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def load_envelope(
    flavor: str, data: bytes, *, expected_input_shape: tuple[int, int], model_type: type
) -> Envelope:
    """Unpickle and validate an artifact; ModelLoadError says what is wrong with it."""
    if data[:4] == b"PK\x03\x04":
        raise ModelLoadError(f"{flavor} artifact is a zip archive (a Keras model?), not a pickle")
    try:
        doc = pickle.loads(data)
    except Exception as exc:  # arbitrary bytes can fail in any way; all mean "corrupt"
        raise ModelLoadError(f"{flavor} artifact is corrupt: {type(exc).__name__}: {exc}") from None
    return check_envelope(
        flavor,
        doc,
        expected_input_shape=expected_input_shape,
        model_type=model_type,
        format_version=FORMAT_VERSION,
    )


def check_envelope(
    flavor: str,
    doc: Any,
    *,
    expected_input_shape: tuple[int, int],
    model_type: type,
    format_version: int,
) -> Envelope:
    """Validate a deserialized envelope; ModelLoadError says what is wrong with it."""
    if not isinstance(doc, dict) or "arena_flavor" not in doc:
        raise ModelLoadError(f"{flavor} artifact is not an Arena model artifact")
    if doc["arena_flavor"] != flavor:
        raise ModelLoadError(
            f"artifact holds a {doc['arena_flavor']!r} model, not a {flavor!r} model"
        )
    if doc.get("format") != format_version:
        raise ModelLoadError(f"{flavor} artifact has unsupported format {doc.get('format')!r}")
    model = doc.get("model")
    if not isinstance(model, model_type):
        raise ModelLoadError(
            f"{flavor} artifact holds a {type(model).__name__}, expected {model_type.__name__}"
        )
    input_shape = tuple(doc.get("input_shape", ()))
    if input_shape != tuple(expected_input_shape):
        raise ModelLoadError(
            f"{flavor} model input shape {input_shape} does not match "
            f"the expected {tuple(expected_input_shape)}"
        )
    n_classes = doc.get("n_classes")
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ModelLoadError(f"{flavor} artifact has an invalid class count {n_classes!r}")
    return Envelope(
        input_shape=(int(input_shape[0]), int(input_shape[1])), n_classes=n_classes, model=model
    )
