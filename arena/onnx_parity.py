"""Whether a version's ONNX form predicts what the version itself predicts.

Checked by whoever registers a version (the trainer, ``arena bootstrap``) before the ONNX
artifact is stored: on 1,000 real digits (MNIST's test set, shipped in a package), every
argmax must agree and every probability must be within 1e-4. A graph that fails is not
registered; the version is then served natively, and the refusal is recorded with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from arena.flavors.base import F32Images, ServingModel

PARITY_IMAGES = 1_000
PARITY_TOLERANCE = 1e-4


@dataclass(frozen=True, slots=True)
class Parity:
    """The comparison of a model and its ONNX form on ``images`` real images."""

    images: int
    max_abs_diff: float
    argmax_disagreements: int
    tolerance: float = PARITY_TOLERANCE

    @property
    def ok(self) -> bool:
        return (
            self.images > 0
            and self.argmax_disagreements == 0
            and self.max_abs_diff <= self.tolerance
        )

    def describe(self) -> str:
        verdict = "agree" if self.ok else "DISAGREE"
        return (
            f"native and ONNX {verdict} on {self.images} images: argmax differs on "
            f"{self.argmax_disagreements}, max |p - p'| {self.max_abs_diff:.2e} "
            f"(tolerance {self.tolerance:.0e})"
        )

    def as_record(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}


def parity_images(n: int = PARITY_IMAGES) -> F32Images:
    """``n`` real digits, float32 in 0..1: the first of MNIST's test set."""
    from arena.datasets import load_mnist

    return load_mnist().x_test[:n].astype(np.float32) / np.float32(255.0)


def check_parity(native: ServingModel, onnx: ServingModel, images: F32Images) -> Parity:
    expected = native.predict_proba(images)
    got = onnx.predict_proba(images)
    if expected.shape != got.shape:
        return Parity(len(images), float("inf"), len(images))
    return Parity(
        images=len(images),
        max_abs_diff=float(np.max(np.abs(expected - got))) if len(images) else 0.0,
        argmax_disagreements=int(np.sum(expected.argmax(axis=1) != got.argmax(axis=1))),
    )
