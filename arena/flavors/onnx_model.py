"""ONNX artifacts, served with ONNX Runtime: a scorer that never imports TensorFlow.

The trainer exports a version's ONNX form when it registers it (``ModelFlavor.to_onnx``,
checked by ``arena.onnx_parity``); the scorer serves that when it exists. An ONNX graph is
data, not code, but it is still bytes from the registry, so before a session is built the
graph is checked: only the standard operator sets, no tensor stored outside the artifact
(ONNX's external data would make the runtime read files named by the artifact), and the
input and output the input contract needs: ``images`` ``[N, H, W]`` float32 in, class
probabilities ``[N, classes]`` out. No custom-operator library is ever registered.

onnxruntime and onnx are imported on first use, not when this module is imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from arena.errors import ModelLoadError
from arena.flavors.base import F32Images, Probabilities, ShapedClassifier, check_images

ONNX_FLAVOR = "onnx"
"""The flavor name ONNX artifacts are signed as: a native signature never vouches for one."""

ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
"""The operator sets an artifact may use: ONNX's own, and ONNX-ML (scikit-learn's)."""

DEFAULT_THREADS = 2
"""Intra-op threads per session. Measured end to end on 2 shared cores, 100,000 raw frames
through one scorer: 2 threads ~6,500 img/s, 1 thread ~5,200 (TF in the same run: ~3,700)."""


RUN_CHUNK = 128
"""Images per session run. Measured on 2 shared cores (MNIST CNN, 1 thread): runs of 128
are as fast as any (about 10k img/s; 1,024 at once: 8.4k) and keep the runtime's memory
arena at about 22 MiB, where a run of 1,024 grows it by about 190 MiB (the first
convolution's output alone is 88 MB). A scorer's batch of 1,024 is run in chunks."""


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor a graph holds: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


def check_graph(data: bytes) -> None:
    """Refuse an ONNX artifact that is not a self-contained graph of standard operators."""
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # arbitrary bytes fail protobuf parsing in many ways
        raise ModelLoadError(f"onnx artifact is not an ONNX model: {type(exc).__name__}") from None
    domains = {opset.domain for opset in model.opset_import}
    domains |= {node.domain for node in model.graph.node}
    foreign = domains - ALLOWED_DOMAINS
    if foreign:
        raise ModelLoadError(
            f"onnx artifact uses operator sets other than ONNX's own: {sorted(foreign)}"
        )
    if model.functions:
        raise ModelLoadError("onnx artifact defines functions of its own; refusing it")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in _tensors(model.graph)):
        raise ModelLoadError("onnx artifact refers to external data files; refusing it")


def session_options(threads: int = DEFAULT_THREADS) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only; the loader reports refusals itself
    # Idle pool threads sleep rather than spin: the scorer's other threads (decoding, Kafka)
    # need the cores between two runs (same throughput measured either way).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxModel(ShapedClassifier):
    """An ONNX Runtime session behind the scoring contract (``ServingModel``)."""

    name: ClassVar[str] = ONNX_FLAVOR

    def __init__(self, session: Any, *, input_shape: tuple[int, int], n_classes: int) -> None:
        self._session = session
        self._input_name: str = session.get_inputs()[0].name
        self._input_shape = input_shape
        self._n_classes = n_classes

    @classmethod
    def from_bytes(
        cls, data: bytes, *, expected_input_shape: tuple[int, int], threads: int = DEFAULT_THREADS
    ) -> OnnxModel:
        """Check the graph, build a CPU session, check its input and output shapes."""
        check_graph(data)
        import onnxruntime as ort

        try:
            session = ort.InferenceSession(
                data, session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # the runtime's own validation failed
            raise ModelLoadError(f"onnx artifact cannot be loaded: {exc}") from None
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(
                f"onnx model has {len(inputs)} inputs and {len(outputs)} outputs, not 1 and 1"
            )
        shape, expected = list(inputs[0].shape), expected_input_shape
        if inputs[0].type != "tensor(float)" or len(shape) != 3 or tuple(shape[1:]) != expected:
            raise ModelLoadError(
                f"onnx model input {inputs[0].type} {shape} does not match the expected "
                f"float [N, {expected[0]}, {expected[1]}]"
            )
        out_shape = list(outputs[0].shape)
        if (
            outputs[0].type != "tensor(float)"
            or len(out_shape) != 2
            or not isinstance(out_shape[1], int)
            or out_shape[1] < 2
        ):
            raise ModelLoadError(
                f"onnx model output {outputs[0].type} {out_shape} is not float [N, classes]"
            )
        return cls(session, input_shape=expected, n_classes=int(out_shape[1]))

    def predict_proba(self, images: F32Images) -> Probabilities:
        check_images(images, self._input_shape)
        if len(images) == 0:
            return np.empty((0, self._n_classes), dtype=np.float32)
        batch = np.ascontiguousarray(images, dtype=np.float32)
        if len(batch) <= RUN_CHUNK:
            proba: Probabilities = self._session.run(None, {self._input_name: batch})[0]
            return proba
        out = np.empty((len(batch), self._n_classes), dtype=np.float32)
        for start in range(0, len(batch), RUN_CHUNK):
            chunk = batch[start : start + RUN_CHUNK]
            out[start : start + len(chunk)] = self._session.run(None, {self._input_name: chunk})[0]
        return out

    def warm_up(self, batch_size: int) -> None:
        """One run: ONNX Runtime allocates its buffers on the first call."""
        self.predict_proba(np.zeros((batch_size, *self._input_shape), dtype=np.float32))
