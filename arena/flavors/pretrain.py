"""Build a first champion from a small labeled subset (the demo's starting point)."""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt

from arena.flavors import new_model
from arena.flavors.base import Labels, ModelFlavor
from arena.images import to_unit_float


def train_initial(
    flavor: str,
    images: npt.NDArray[np.uint8] | npt.NDArray[np.float32],
    labels: Labels,
    *,
    epochs: int,
    seed: int,
    learning_rate: float | None = None,
) -> ModelFlavor:
    """A new model of ``flavor`` trained on ``images`` (uint8 0..255 or float32 0..1).

    The examples are shuffled with ``seed`` first: online learners (River) are sensitive to
    order, and a seeded order makes the initial champion reproducible.
    """
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(
            f"expected images [N, H, W] and N labels, got {images.shape} and {len(labels)}"
        )
    if len(images) == 0:
        raise ValueError("cannot train an initial model on zero examples")
    height, width = images.shape[1:]
    model = new_model(flavor, input_shape=(height, width), seed=seed)
    if images.dtype == np.uint8:
        pixels = to_unit_float(cast(npt.NDArray[np.uint8], images))
    else:
        pixels = np.asarray(images, dtype=np.float32)
    order = np.random.default_rng(seed).permutation(len(images))
    model.fit(
        pixels[order],
        np.asarray(labels, dtype=np.int64)[order],
        epochs=epochs,
        learning_rate=model.default_learning_rate if learning_rate is None else learning_rate,
    )
    return model
