"""The contract every model flavor must honour, run over every registered flavor."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from arena.datasets import load_mnist
from arena.errors import ModelLoadError
from arena.flavors import FLAVORS, ModelFlavor, load_model, new_model
from arena.images import to_unit_float

N_TRAIN = 600
N_HELD_OUT = 300


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = load_mnist()
    return (
        to_unit_float(data.x_train[:N_TRAIN]),
        data.y_train[:N_TRAIN],
        to_unit_float(data.x_test[:N_HELD_OUT]),
        data.y_test[:N_HELD_OUT],
    )


@pytest.fixture(scope="module", params=sorted(FLAVORS))
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def trained(flavor: str, digits: tuple[np.ndarray, ...]) -> ModelFlavor:
    x_train, y_train, _, _ = digits
    model = new_model(flavor, seed=1)
    model.fit(x_train, y_train, epochs=3, learning_rate=model.default_learning_rate)
    return model


def accuracy(model: ModelFlavor, images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(model.predict_proba(images).argmax(axis=1) == labels))


def test_new_model_predicts_probability_rows(flavor: str) -> None:
    model = new_model(flavor)
    images = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)

    proba = model.predict_proba(images)

    assert model.name == flavor
    assert model.input_shape == (28, 28)
    assert model.n_classes == 10
    assert proba.shape == (5, 10)
    assert proba.dtype == np.float32
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_trained_model_predicts_probability_rows(
    trained: ModelFlavor, digits: tuple[np.ndarray, ...]
) -> None:
    proba = trained.predict_proba(digits[2][:7])

    assert proba.shape == (7, 10)
    assert proba.dtype == np.float32
    assert (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_empty_batch_gives_empty_probabilities(trained: ModelFlavor) -> None:
    assert trained.predict_proba(np.zeros((0, 28, 28), np.float32)).shape == (0, 10)


def test_wrong_image_shape_is_refused(trained: ModelFlavor) -> None:
    with pytest.raises(ValueError, match="28, 28"):
        trained.predict_proba(np.zeros((2, 32, 32), np.float32))


def test_fit_learns_well_above_chance(trained: ModelFlavor, digits: tuple[np.ndarray, ...]) -> None:
    _, _, x_held_out, y_held_out = digits

    assert accuracy(trained, x_held_out, y_held_out) > 0.6  # chance is 0.1


def test_round_trip_through_bytes_keeps_predictions(
    flavor: str, trained: ModelFlavor, digits: tuple[np.ndarray, ...]
) -> None:
    images = digits[2][:64]

    loaded = load_model(flavor, trained.to_bytes())

    assert loaded.name == flavor
    np.testing.assert_allclose(
        loaded.predict_proba(images), trained.predict_proba(images), atol=1e-6
    )


def test_clone_is_independent_of_the_original(
    trained: ModelFlavor, digits: tuple[np.ndarray, ...]
) -> None:
    x_train, y_train, x_held_out, _ = digits
    before = trained.predict_proba(x_held_out[:64])
    challenger = trained.clone()
    np.testing.assert_allclose(challenger.predict_proba(x_held_out[:64]), before, atol=1e-6)

    # Teach the clone wrong labels hard enough to change it visibly.
    challenger.fit(
        x_train[:200],
        (y_train[:200] + 1) % 10,
        epochs=2,
        learning_rate=trained.default_learning_rate,
    )

    assert not np.allclose(challenger.predict_proba(x_held_out[:64]), before, atol=1e-3)
    np.testing.assert_array_equal(trained.predict_proba(x_held_out[:64]), before)


def test_warm_up_then_predict_that_batch_size(trained: ModelFlavor) -> None:
    trained.warm_up(32)

    assert trained.predict_proba(np.zeros((32, 28, 28), np.float32)).shape == (32, 10)


@pytest.mark.parametrize(
    "garbage", [b"", b"not a model", b"PK\x03\x04broken zip", bytes(range(256))]
)
def test_load_refuses_garbage(flavor: str, garbage: bytes) -> None:
    with pytest.raises(ModelLoadError, match=flavor):
        load_model(flavor, garbage)


def test_load_refuses_another_flavors_artifact(flavor: str) -> None:
    other = next(name for name in sorted(FLAVORS) if name != flavor)
    artifact = new_model(other).to_bytes()

    with pytest.raises(ModelLoadError):
        load_model(flavor, artifact)


def test_load_refuses_a_wrong_input_shape(flavor: str) -> None:
    artifact = new_model(flavor, input_shape=(32, 32)).to_bytes()

    with pytest.raises(ModelLoadError, match=r"input shape \(32, 32\) does not match"):
        load_model(flavor, artifact, expected_input_shape=(28, 28))


def test_unknown_flavor_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="keras, river, sklearn"):
        new_model("pytorch")
    with pytest.raises(ValueError, match="allowed"):
        load_model("pytorch", b"")


def test_importing_flavors_does_not_load_tensorflow() -> None:
    code = (
        "import sys, arena.flavors, arena.flavors.keras_cnn;sys.exit('tensorflow' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_sklearn_artifacts_cannot_run_code(tmp_path: Path) -> None:
    """A scikit-learn artifact is a skops archive: a pickle is refused unread, and an
    archive naming a type skops does not trust is refused before it is built."""
    import pickle

    import skops.io as sio

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, ...]:
            return (Path.touch, (marker,))

    with pytest.raises(ModelLoadError, match="not a skops archive"):
        load_model("sklearn", pickle.dumps({"model": Payload()}))
    assert not marker.exists()

    archive = sio.dumps(
        {
            "arena_flavor": "sklearn",
            "format": 2,
            "input_shape": (28, 28),
            "n_classes": 10,
            "model": Counter(),
        }
    )
    with pytest.raises(ModelLoadError, match=r"types skops does not trust: collections\.Counter"):
        load_model("sklearn", archive)


def test_onnx_form_agrees_with_the_model_on_real_digits(trained: ModelFlavor) -> None:
    from arena.flavors.onnx_model import OnnxModel
    from arena.onnx_parity import check_parity, parity_images

    data = trained.to_onnx()
    if trained.name == "river":
        assert data is None  # River stays native
        return
    assert data is not None
    served = OnnxModel.from_bytes(data, expected_input_shape=(28, 28))

    parity = check_parity(trained, served, parity_images())

    assert parity.images == 1_000
    assert parity.argmax_disagreements == 0
    assert parity.max_abs_diff <= 1e-4
    assert parity.ok
