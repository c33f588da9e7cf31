"""Keras flavor (the default): a small CNN for grey digits, served through one tf.function.

Conv 32 -> MaxPool -> Conv 64 -> MaxPool -> Dense 128 -> Dense n softmax: ~99% on MNIST when
trained enough, ~2.6M multiply-adds per image. Scoring never calls ``model.predict`` (which
builds a dataset and a step function per call); it calls one traced function with a fixed
``[None, H, W]`` signature, so any batch size reuses the same graph.

TensorFlow is imported on first use, not when this module is imported.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from arena.errors import ModelExportError, ModelLoadError
from arena.flavors.base import (
    F32Images,
    Labels,
    Probabilities,
    ShapedClassifier,
    StopCheck,
    check_images,
    never,
)

FIT_BATCH_SIZE = 64
# Measured on 2 shared cores, batches of 256 (median / p90 images per second): graph mode
# ~11,900 / ~21,200, XLA ~7,900 / ~14,900. XLA also compiles again for every new batch
# size (~150 ms each), which a scorer with variable batches keeps paying. So: no XLA.
DEFAULT_JIT_COMPILE = False
ONNX_OPSET = 17  # what onnxruntime >= 1.14 runs; tf2onnx 1.17 writes up to 18


def _tensorflow() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def _keras() -> Any:
    _tensorflow()
    import keras

    return keras


def build_cnn(input_shape: tuple[int, int], n_classes: int, seed: int) -> Any:
    """The architecture; input ``[H, W, 1]``, output softmax over ``n_classes``."""
    keras = _keras()
    layers = keras.layers

    def init(offset: int) -> Any:
        return keras.initializers.GlorotUniform(seed=seed * 16 + offset)

    inputs = keras.Input((*input_shape, 1), name="image")
    x = layers.Conv2D(32, 3, activation="relu", kernel_initializer=init(0))(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu", kernel_initializer=init(1))(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu", kernel_initializer=init(2))(x)
    outputs = layers.Dense(n_classes, activation="softmax", kernel_initializer=init(3))(x)
    return keras.Model(inputs, outputs, name="arena_cnn")


def _stop_when(should_stop: StopCheck) -> Any:
    """A Keras callback that ends ``fit`` after the mini-batch during which ``should_stop``
    became true."""
    keras = _keras()

    class StopWhen(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if should_stop():
                self.model.stop_training = True

    return StopWhen()


class KerasCnn(ShapedClassifier):
    """A Keras 3 model (TensorFlow backend) with a compiled scoring function."""

    name: ClassVar[str] = "keras"
    default_learning_rate: ClassVar[float] = 1e-3  # Adam

    def __init__(self, model: Any, *, jit_compile: bool = DEFAULT_JIT_COMPILE) -> None:
        self._model = model
        self._jit_compile = jit_compile
        self._input_shape: tuple[int, int] = tuple(model.input_shape[1:3])
        self._n_classes: int = int(model.output_shape[-1])
        self._compiled_learning_rate: float | None = None
        self._predict = self._trace_predict()

    def _trace_predict(self) -> Callable[[Any], Any]:
        tf = _tensorflow()
        model = self._model
        signature = [tf.TensorSpec([None, *self._input_shape], tf.float32, name="images")]

        @tf.function(  # type: ignore[untyped-decorator]
            input_signature=signature,
            reduce_retracing=True,
            jit_compile=self._jit_compile,
            autograph=False,  # straight-line code: nothing for AutoGraph to convert
        )
        def predict(images: Any) -> Any:
            return model(tf.expand_dims(images, -1), training=False)

        return predict  # type: ignore[no-any-return]

    @classmethod
    def create(cls, *, n_classes: int, input_shape: tuple[int, int], seed: int) -> KerasCnn:
        return cls(build_cnn(input_shape, n_classes, seed))

    @classmethod
    def from_bytes(cls, data: bytes, *, expected_input_shape: tuple[int, int]) -> KerasCnn:
        """Load a ``.keras`` archive; safe mode, so it cannot carry arbitrary code."""
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise ModelLoadError("keras artifact is not a .keras (zip) archive")
        keras = _keras()
        with tempfile.TemporaryDirectory(prefix="arena-keras-") as tmp:
            path = Path(tmp) / "model.keras"
            path.write_bytes(data)
            try:
                model = keras.saving.load_model(path, compile=False, safe_mode=True)
            except Exception as exc:  # a damaged archive fails in many ways
                raise ModelLoadError(
                    f"keras artifact cannot be loaded: {type(exc).__name__}: {exc}"
                ) from None
        if not isinstance(model, keras.Model) or len(model.inputs) != 1:
            raise ModelLoadError(f"keras artifact holds a {type(model).__name__}, not a model")
        shape = tuple(model.input_shape)
        expected = tuple(expected_input_shape)
        if len(shape) != 4 or shape[1:3] != expected or shape[3] != 1:
            got = shape[1:3] if len(shape) == 4 else shape[1:]
            raise ModelLoadError(
                f"keras model input shape {got} does not match the expected {expected} "
                f"(grey, one channel)"
            )
        if len(model.output_shape) != 2 or (model.output_shape[-1] or 0) < 2:
            raise ModelLoadError(f"keras model output {model.output_shape} is not [N, classes]")
        return cls(model)

    def predict_proba(self, images: F32Images) -> Probabilities:
        check_images(images, self._input_shape)
        if len(images) == 0:
            return np.empty((0, self._n_classes), dtype=np.float32)
        proba: Probabilities = self._predict(np.asarray(images, dtype=np.float32)).numpy()
        return proba

    def fit(
        self,
        images: F32Images,
        labels: Labels,
        *,
        epochs: int,
        learning_rate: float,
        should_stop: StopCheck = never,
    ) -> None:
        """Keras ``fit`` with Adam at ``learning_rate``, mini-batches of 64, silent.

        The optimizer (and its moments) is kept across calls while the learning rate stays
        the same, so repeated fine-tuning continues rather than restarts.
        """
        check_images(images, self._input_shape)
        if self._compiled_learning_rate != learning_rate:
            keras = _keras()
            self._model.compile(
                optimizer=keras.optimizers.Adam(learning_rate),
                loss="sparse_categorical_crossentropy",
                jit_compile=False,  # a few mini-batches do not repay XLA's compile time
            )
            self._compiled_learning_rate = learning_rate
        self._model.fit(
            images[..., np.newaxis],
            np.asarray(labels, dtype=np.int64),
            epochs=epochs,
            batch_size=FIT_BATCH_SIZE,
            shuffle=True,
            verbose=0,
            callbacks=[_stop_when(should_stop)],
        )

    def clone(self) -> KerasCnn:
        keras = _keras()
        copy = keras.models.clone_model(self._model)
        copy.set_weights(self._model.get_weights())
        return KerasCnn(copy, jit_compile=self._jit_compile)

    def to_bytes(self) -> bytes:
        with tempfile.TemporaryDirectory(prefix="arena-keras-") as tmp:
            path = Path(tmp) / "model.keras"
            self._model.save(path)
            return path.read_bytes()

    def to_onnx(self) -> bytes:
        """The scoring function itself, converted by tf2onnx: input ``images`` ``[N, H, W]``,
        output the softmax, so ONNX serving keeps the input contract exactly."""
        tf = _tensorflow()
        import tf2onnx  # the trainer's dependency only: a scorer never imports it

        signature = [tf.TensorSpec([None, *self._input_shape], tf.float32, name="images")]
        try:
            proto, _ = tf2onnx.convert.from_function(
                self._predict, input_signature=signature, opset=ONNX_OPSET
            )
        except Exception as exc:  # a converter failure has no narrower type
            raise ModelExportError(f"tf2onnx could not convert the model: {exc!r}") from exc
        return bytes(proto.SerializeToString())

    def warm_up(self, batch_size: int) -> None:
        """Trace (and with XLA, compile) the scoring function for this batch size."""
        self._predict(np.zeros((batch_size, *self._input_shape), dtype=np.float32))
