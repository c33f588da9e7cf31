"""River flavor: a truly online classifier that learns from every labeled event.

One-vs-rest logistic regression on 14x14 mean-pooled pixels (2x2 blocks): pooling cuts the
per-event cost four-fold while keeping the digit's shape, and zero pixels are left out of
the feature dict because a linear model ignores them anyway.

Artifacts are pickled (see ``arena.flavors.pickled``): acceptable because the registry
verifies each artifact's sha256 before it is unpickled.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np
from river import linear_model, multiclass, optim

from arena.flavors.base import (
    F32Images,
    Labels,
    Probabilities,
    ShapedClassifier,
    StopCheck,
    check_images,
    never,
    normalise_rows,
    uniform,
)
from arena.flavors.pickled import Envelope, dump_envelope, load_envelope

POOL = 2
Features = dict[int, float]


def _set_learning_rate(model: Any, learning_rate: float) -> None:
    # The template too: a class seen for the first time gets a clone of it.
    for classifier in (model.classifier, *model.classifiers.values()):
        classifier.optimizer.lr = optim.schedulers.Constant(learning_rate)


class RiverLogistic(ShapedClassifier):
    """``OneVsRestClassifier(LogisticRegression)`` fed one image at a time."""

    name: ClassVar[str] = "river"
    default_learning_rate: ClassVar[float] = 0.05  # plain SGD step size

    def __init__(
        self,
        model: Any,
        *,
        input_shape: tuple[int, int],
        n_classes: int,
    ) -> None:
        self._model: Any = model  # river.multiclass.OneVsRestClassifier (partly typed)
        self._input_shape = input_shape
        self._n_classes = n_classes

    @classmethod
    def create(cls, *, n_classes: int, input_shape: tuple[int, int], seed: int) -> RiverLogistic:
        # Zero-initialised logistic regression is deterministic; the seed has nothing to do.
        del seed
        model = multiclass.OneVsRestClassifier(
            linear_model.LogisticRegression(optimizer=optim.SGD(cls.default_learning_rate))
        )
        return cls(model, input_shape=input_shape, n_classes=n_classes)

    @classmethod
    def from_bytes(cls, data: bytes, *, expected_input_shape: tuple[int, int]) -> RiverLogistic:
        envelope = load_envelope(
            cls.name,
            data,
            expected_input_shape=expected_input_shape,
            model_type=multiclass.OneVsRestClassifier,
        )
        return cls(envelope.model, input_shape=envelope.input_shape, n_classes=envelope.n_classes)

    def _features(self, images: F32Images) -> list[Features]:
        height, width = self._input_shape
        # Crop to a multiple of the pool size, then average each POOL x POOL block.
        h, w = height - height % POOL, width - width % POOL
        pooled = (
            images[:, :h, :w].reshape(len(images), h // POOL, POOL, w // POOL, POOL).mean((2, 4))
        ).reshape(len(images), (h // POOL) * (w // POOL))
        rows = []
        for row in pooled:
            nonzero = np.flatnonzero(row)
            rows.append(dict(zip(nonzero.tolist(), row[nonzero].tolist(), strict=True)))
        return rows

    def predict_proba(self, images: F32Images) -> Probabilities:
        check_images(images, self._input_shape)
        if not self._model.classifiers:
            return uniform(len(images), self._n_classes)
        proba = np.zeros((len(images), self._n_classes), dtype=np.float32)
        for i, features in enumerate(self._features(images)):
            for label, p in self._model.predict_proba_one(features).items():
                if 0 <= label < self._n_classes:
                    proba[i, label] = p
        # A class never seen yet gets a small floor rather than an impossible zero.
        return normalise_rows(proba + np.float32(1e-6))

    def fit(
        self,
        images: F32Images,
        labels: Labels,
        *,
        epochs: int,
        learning_rate: float,
        should_stop: StopCheck = never,
    ) -> None:
        """Learn event by event (``learn_one``), ``epochs`` passes, SGD step ``learning_rate``."""
        check_images(images, self._input_shape)
        _set_learning_rate(self._model, learning_rate)
        features = self._features(images)
        targets = [int(label) for label in labels]
        for _ in range(epochs):
            for i, (x, y) in enumerate(zip(features, targets, strict=True)):
                if i % 64 == 0 and should_stop():
                    return
                self._model.learn_one(x, y)

    def clone(self) -> RiverLogistic:
        return RiverLogistic(
            copy.deepcopy(self._model), input_shape=self._input_shape, n_classes=self._n_classes
        )

    def to_onnx(self) -> None:
        """River models stay native: they have no ONNX form."""
        return None

    def to_bytes(self) -> bytes:
        return dump_envelope(self.name, Envelope(self._input_shape, self._n_classes, self._model))

    def warm_up(self, batch_size: int) -> None:
        """Nothing to compile; one prediction touches the code paths once."""
        self.predict_proba(np.zeros((1, *self._input_shape), dtype=np.float32))
