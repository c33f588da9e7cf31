"""Model flavors behind one contract, ``ModelFlavor``; see ``arena.flavors.base``.

Flavor modules are imported on first use, so ``import arena.flavors`` stays cheap and only
a process that serves the Keras flavor pays for loading TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import cast

from arena.flavors.base import FlavorFactory, ModelFlavor

__all__ = [
    "FLAVORS",
    "INPUT_SHAPE",
    "N_CLASSES",
    "ModelFlavor",
    "flavor_factory",
    "load_model",
    "new_model",
]

FLAVORS: dict[str, str] = {
    "keras": "arena.flavors.keras_cnn:KerasCnn",
    "river": "arena.flavors.river_online:RiverLogistic",
    "sklearn": "arena.flavors.sklearn_sgd:SklearnSgd",
}
"""Registry: flavor name -> ``module:class`` implementing ``FlavorFactory``."""

INPUT_SHAPE = (28, 28)
"""The (height, width) every service decodes images to and every model takes: the one owner."""

N_CLASSES = 10
"""The classes every model is created with (digits 0..9); labels outside them are refused."""


def flavor_factory(flavor: str) -> FlavorFactory:
    """The class behind a flavor name; ValueError naming the allowed flavors if unknown."""
    try:
        target = FLAVORS[flavor]
    except KeyError:
        raise ValueError(
            f"unknown model flavor {flavor!r}; allowed: {', '.join(sorted(FLAVORS))}"
        ) from None
    module_name, _, class_name = target.partition(":")
    return cast(FlavorFactory, getattr(importlib.import_module(module_name), class_name))


def new_model(
    flavor: str,
    *,
    n_classes: int = N_CLASSES,
    input_shape: tuple[int, int] = INPUT_SHAPE,
    seed: int = 0,
) -> ModelFlavor:
    """A new, untrained model of the given flavor."""
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    return flavor_factory(flavor).create(n_classes=n_classes, input_shape=input_shape, seed=seed)


def load_model(
    flavor: str, data: bytes, *, expected_input_shape: tuple[int, int] = INPUT_SHAPE
) -> ModelFlavor:
    """Load an artifact written by ``ModelFlavor.to_bytes``.

    Raises:
        ModelLoadError: the bytes are corrupt, belong to another flavor, or the model's
            input shape differs from ``expected_input_shape``.
        ValueError: ``flavor`` is not a registered flavor name.
    """
    return flavor_factory(flavor).from_bytes(data, expected_input_shape=expected_input_shape)
