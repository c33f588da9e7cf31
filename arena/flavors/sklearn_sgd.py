"""scikit-learn flavor: a linear softmax-like classifier (``SGDClassifier``, log loss).

Cheap to score and to fine-tune incrementally with ``partial_fit`` on raw pixels; a
baseline that shows the platform is not tied to deep learning.

Artifacts are written with skops (``skops.io``), not pickle: loading one only builds the
types skops trusts by default (scikit-learn estimators, NumPy arrays, builtins), so even a
forged artifact cannot run code. An artifact naming any other type is refused unread.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
import skops.io as sio
from sklearn.linear_model import SGDClassifier

from arena.errors import ModelExportError, ModelLoadError
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
from arena.flavors.pickled import check_envelope

FORMAT_VERSION = 2  # 1 was a pickle


class SklearnSgd(ShapedClassifier):
    """``SGDClassifier(loss="log_loss")`` over the flattened pixels."""

    name: ClassVar[str] = "sklearn"
    default_learning_rate: ClassVar[float] = 0.01  # SGD's constant step size (eta0)

    def __init__(self, model: SGDClassifier, *, input_shape: tuple[int, int], n_classes: int):
        self._model = model
        self._input_shape = input_shape
        self._n_classes = n_classes

    @classmethod
    def create(cls, *, n_classes: int, input_shape: tuple[int, int], seed: int) -> SklearnSgd:
        model = SGDClassifier(
            loss="log_loss",
            alpha=1e-5,
            learning_rate="constant",
            eta0=cls.default_learning_rate,
            random_state=seed,
        )
        return cls(model, input_shape=input_shape, n_classes=n_classes)

    @classmethod
    def from_bytes(cls, data: bytes, *, expected_input_shape: tuple[int, int]) -> SklearnSgd:
        if data[:4] != b"PK\x03\x04":
            raise ModelLoadError(f"{cls.name} artifact is not a skops archive")
        try:
            untrusted = sio.get_untrusted_types(data=data)
            if untrusted:
                raise ModelLoadError(
                    f"{cls.name} artifact names types skops does not trust: "
                    f"{', '.join(sorted(untrusted))[:500]}; refusing to load it"
                )
            doc = sio.loads(data, trusted=[])
        except ModelLoadError:
            raise
        except Exception as exc:  # arbitrary bytes can fail in any way; all mean "corrupt"
            raise ModelLoadError(
                f"{cls.name} artifact is corrupt: {type(exc).__name__}: {exc}"
            ) from None
        envelope = check_envelope(
            cls.name,
            doc,
            expected_input_shape=expected_input_shape,
            model_type=SGDClassifier,
            format_version=FORMAT_VERSION,
        )
        return cls(envelope.model, input_shape=envelope.input_shape, n_classes=envelope.n_classes)

    def predict_proba(self, images: F32Images) -> Probabilities:
        check_images(images, self._input_shape)
        if len(images) == 0:
            return np.empty((0, self._n_classes), dtype=np.float32)
        if not hasattr(self._model, "coef_"):
            return uniform(len(images), self._n_classes)
        flat = images.reshape(len(images), -1)
        return normalise_rows(self._model.predict_proba(flat))

    def fit(
        self,
        images: F32Images,
        labels: Labels,
        *,
        epochs: int,
        learning_rate: float,
        should_stop: StopCheck = never,
    ) -> None:
        """``epochs`` passes of ``partial_fit`` with a constant step size ``learning_rate``."""
        check_images(images, self._input_shape)
        self._model.set_params(learning_rate="constant", eta0=learning_rate)
        flat = images.reshape(len(images), -1)
        classes = np.arange(self._n_classes)
        for _ in range(epochs):
            if should_stop():
                return
            self._model.partial_fit(flat, labels, classes=classes)

    def clone(self) -> SklearnSgd:
        return SklearnSgd(
            copy.deepcopy(self._model), input_shape=self._input_shape, n_classes=self._n_classes
        )

    def to_bytes(self) -> bytes:
        return bytes(
            sio.dumps(
                {
                    "arena_flavor": self.name,
                    "format": FORMAT_VERSION,
                    "input_shape": self._input_shape,
                    "n_classes": self._n_classes,
                    "model": self._model,
                }
            )
        )

    def to_onnx(self) -> bytes | None:
        """skl2onnx's conversion of the classifier behind a Reshape from ``images``
        ``[N, H, W]`` to the flat pixels; only the probabilities are output. An untrained
        model (it predicts uniform without any weights) has no ONNX form: None."""
        if not hasattr(self._model, "coef_"):
            return None
        # The trainer's dependencies only: a scorer never imports them.
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        pixels = self._input_shape[0] * self._input_shape[1]
        try:
            proto = convert_sklearn(
                self._model,
                initial_types=[("flat", FloatTensorType([None, pixels]))],
                options={id(self._model): {"zipmap": False}},
                target_opset={"": 17, "ai.onnx.ml": 3},
            )
        except Exception as exc:  # a converter failure has no narrower type
            raise ModelExportError(f"skl2onnx could not convert the model: {exc!r}") from exc
        graph = proto.graph
        graph.initializer.append(
            numpy_helper.from_array(np.array([-1, pixels], dtype=np.int64), "arena_flat_shape")
        )
        graph.node.insert(
            0, helper.make_node("Reshape", ["images", "arena_flat_shape"], ["flat"], "flatten")
        )
        del graph.input[:]
        graph.input.append(
            helper.make_tensor_value_info("images", TensorProto.FLOAT, [None, *self._input_shape])
        )
        probabilities = [o for o in graph.output if o.name == "probabilities"]
        if len(probabilities) != 1:
            raise ModelExportError("skl2onnx's graph has no 'probabilities' output")
        del graph.output[:]
        graph.output.extend(probabilities)
        onnx.checker.check_model(proto)
        return bytes(proto.SerializeToString())

    def warm_up(self, batch_size: int) -> None:
        """Nothing to compile; one prediction touches the code paths once."""
        self.predict_proba(np.zeros((batch_size, *self._input_shape), dtype=np.float32))
