"""ONNX artifacts: what the serving side accepts, what it refuses, and the parity verdict."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from arena.errors import ModelLoadError
from arena.flavors.onnx_model import OnnxModel
from arena.onnx_parity import Parity, check_parity


def _softmax_graph(
    input_shape: list[int | None],
    *,
    domain: str = "",
    external: bool = False,
    classes: int = 10,
) -> bytes:
    """images [N, H, W] -> Reshape -> MatMul -> Softmax: a tiny valid classifier."""
    pixels = int(np.prod([d for d in input_shape[1:] if d]))
    weights = numpy_helper.from_array(
        np.random.default_rng(0).normal(size=(pixels, classes)).astype(np.float32), "w"
    )
    if external:
        weights.ClearField("raw_data")
        weights.data_location = TensorProto.EXTERNAL
        for key, value in (("location", "weights.bin"), ("offset", "0")):
            entry = weights.external_data.add()
            entry.key, entry.value = key, value
    shape = numpy_helper.from_array(np.array([-1, pixels], dtype=np.int64), "shape")
    nodes = [
        helper.make_node("Reshape", ["images", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["proba"], axis=1, domain=domain),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("proba", TensorProto.FLOAT, [None, classes])],
        [weights, shape],
    )
    opsets = [helper.make_opsetid("", 17)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    return bytes(helper.make_model(graph, opset_imports=opsets).SerializeToString())


def test_a_valid_graph_serves_probability_rows() -> None:
    model = OnnxModel.from_bytes(_softmax_graph([None, 28, 28]), expected_input_shape=(28, 28))
    images = np.random.default_rng(1).random((5, 28, 28), dtype=np.float32)

    proba = model.predict_proba(images)

    assert (model.name, model.input_shape, model.n_classes) == ("onnx", (28, 28), 10)
    assert proba.shape == (5, 10) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert model.predict_proba(np.zeros((0, 28, 28), np.float32)).shape == (0, 10)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a protobuf at all \xff\xfe", "not an ONNX model"),
        (_softmax_graph([None, 28, 28], external=True), "external data"),
        (_softmax_graph([None, 28, 28], domain="com.evil"), "operator sets"),
        (_softmax_graph([None, 32, 32]), "does not match the expected"),
        (_softmax_graph([None, 28, 28], classes=1), "is not float [N, classes]"),
    ],
    ids=["garbage", "external-data", "custom-domain", "wrong-shape", "one-class"],
)
def test_a_graph_the_contract_does_not_allow_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ModelLoadError, match=reason.replace("[", r"\[")):
        OnnxModel.from_bytes(data, expected_input_shape=(28, 28))


def test_wrong_batch_shape_is_a_caller_bug() -> None:
    model = OnnxModel.from_bytes(_softmax_graph([None, 28, 28]), expected_input_shape=(28, 28))
    with pytest.raises(ValueError, match="expected images"):
        model.predict_proba(np.zeros((2, 27, 28), np.float32))


def test_parity_fails_on_one_disagreeing_argmax_or_a_large_difference() -> None:
    good = OnnxModel.from_bytes(_softmax_graph([None, 28, 28]), expected_input_shape=(28, 28))
    tampered = onnx.load_model_from_string(_softmax_graph([None, 28, 28]))
    weights = numpy_helper.to_array(tampered.graph.initializer[0]).copy()
    weights[:, 0] += 0.05  # a nudge: probabilities move, most argmaxes do not
    tampered.graph.initializer[0].CopyFrom(numpy_helper.from_array(weights, "w"))
    bad = OnnxModel.from_bytes(tampered.SerializeToString(), expected_input_shape=(28, 28))
    images = np.random.default_rng(2).random((200, 28, 28), dtype=np.float32)

    same = check_parity(good, good, images)
    different = check_parity(good, bad, images)

    assert same.ok and same.max_abs_diff == 0.0
    assert not different.ok and different.max_abs_diff > 1e-4
    assert "DISAGREE" in different.describe()
    assert not Parity(images=1_000, max_abs_diff=0.0, argmax_disagreements=1).ok
    assert not Parity(images=0, max_abs_diff=0.0, argmax_disagreements=0).ok


def test_serving_onnx_never_imports_tensorflow() -> None:
    code = (
        "import sys, numpy as np\n"
        "from storage.model_loader import ModelLoader\n"
        "from arena.flavors.onnx_model import OnnxModel\n"
        "import scorer.app\n"
        f"m = OnnxModel.from_bytes({_softmax_graph([None, 28, 28])!r}, "
        "expected_input_shape=(28, 28))\n"
        "m.predict_proba(np.zeros((3, 28, 28), np.float32))\n"
        "print(sorted(n for n in ('tensorflow', 'keras', 'tf2onnx') if n in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_batch_larger_than_one_run_is_scored_in_chunks_alike() -> None:
    from arena.flavors.onnx_model import RUN_CHUNK

    model = OnnxModel.from_bytes(_softmax_graph([None, 28, 28]), expected_input_shape=(28, 28))
    images = np.random.default_rng(3).random((RUN_CHUNK * 2 + 7, 28, 28), dtype=np.float32)

    whole = model.predict_proba(images)
    one_by_one = np.concatenate(
        [model.predict_proba(images[i : i + 1]) for i in range(len(images))]
    )

    assert whole.shape == (len(images), 10)
    np.testing.assert_allclose(whole, one_by_one, rtol=1e-6, atol=1e-7)
