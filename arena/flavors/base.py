"""The one contract every model flavor (Keras, River, scikit-learn) implements.

Services only ever see a ``ModelFlavor``: the scorer calls ``predict_proba`` on batches,
the trainer ``clone``s the champion and ``fit``s the clone, the registry stores
``to_bytes``. ``tests/unit/flavors`` runs the same suite over every flavor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

F32Images = npt.NDArray[np.float32]
Probabilities = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]
StopCheck = Callable[[], bool]


def never() -> bool:
    """The default ``should_stop``: a fit runs to the end."""
    return False


@runtime_checkable
class ServingModel(Protocol):
    """What scoring needs of a model: a classifier of grey images ``[N, H, W]`` float32 in
    0..1. Every flavor is one; so is an ONNX artifact (``arena.flavors.onnx_model``)."""

    @property
    def name(self) -> str:
        """The registry flavor name ("keras", "river", "sklearn"), or "onnx"."""
        ...

    @property
    def input_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the images the model takes."""
        ...

    @property
    def n_classes(self) -> int: ...

    def predict_proba(self, images: F32Images) -> Probabilities:
        """Class probabilities ``[N, n_classes]`` float32; every row sums to 1."""
        ...

    def warm_up(self, batch_size: int) -> None:
        """Compile / trace now, so the first real batch of ``batch_size`` is fast."""
        ...


@runtime_checkable
class ModelFlavor(ServingModel, Protocol):
    """A trainable classifier of grey images: what the trainer fine-tunes and stores."""

    default_learning_rate: float
    """A sensible step size for ``fit``; what "learning rate" means differs per flavor."""

    def fit(
        self,
        images: F32Images,
        labels: Labels,
        *,
        epochs: int,
        learning_rate: float,
        should_stop: StopCheck = never,
    ) -> None:
        """Fine-tune in place, starting from the current weights; ``should_stop`` is polled
        between mini-batches (or passes), and a True ends the fit early."""
        ...

    def clone(self) -> ModelFlavor:
        """An independent deep copy: training it leaves this model untouched."""
        ...

    def to_bytes(self) -> bytes:
        """The artifact the registry stores; ``arena.flavors.load_model`` reads it back."""
        ...

    def to_onnx(self) -> bytes | None:
        """The same model as an ONNX graph (input ``images`` ``[N, H, W]`` float32, output
        the probabilities), or None for a flavor with no ONNX form. Callers check parity
        before trusting it (``arena.onnx_parity``)."""
        ...


class FlavorFactory(Protocol):
    """What the registry needs from a flavor class: build a new model, or load one."""

    name: str

    def create(self, *, n_classes: int, input_shape: tuple[int, int], seed: int) -> ModelFlavor:
        """A new, untrained model."""
        ...

    def from_bytes(self, data: bytes, *, expected_input_shape: tuple[int, int]) -> ModelFlavor:
        """Load an artifact written by ``to_bytes``; raise ModelLoadError with the reason."""
        ...


class ShapedClassifier:
    """What every flavor shares: its input shape and class count, read-only."""

    _input_shape: tuple[int, int]
    _n_classes: int

    @property
    def input_shape(self) -> tuple[int, int]:
        return self._input_shape

    @property
    def n_classes(self) -> int:
        return self._n_classes


def check_images(images: F32Images, input_shape: tuple[int, int]) -> None:
    """Refuse a batch whose shape is not ``[N, *input_shape]`` (a bug in the caller)."""
    if images.ndim != 3 or images.shape[1:] != input_shape:
        raise ValueError(
            f"expected images [N, {input_shape[0]}, {input_shape[1]}], got {images.shape}"
        )


def uniform(n_images: int, n_classes: int) -> Probabilities:
    """What a model that has learnt nothing yet predicts."""
    return np.full((n_images, n_classes), 1.0 / n_classes, dtype=np.float32)


def normalise_rows(proba: npt.NDArray[np.floating[Any]]) -> Probabilities:
    """Rows that sum to 1 as float32 (a row of zeros becomes uniform)."""
    proba = np.asarray(proba, dtype=np.float32)
    sums = proba.sum(axis=1, keepdims=True)
    n_classes = proba.shape[1]
    return np.where(sums > 0, proba / np.where(sums > 0, sums, 1), np.float32(1.0 / n_classes))
