from __future__ import annotations

import numpy as np
import pytest

from arena.datasets import load_mnist
from arena.flavors.pretrain import train_initial


@pytest.mark.parametrize("flavor", ["river", "sklearn"])
def test_train_initial_builds_a_useful_champion_from_uint8_digits(flavor: str) -> None:
    data = load_mnist()

    model = train_initial(flavor, data.x_train[:400], data.y_train[:400], epochs=2, seed=3)

    predicted = model.predict_proba(data.x_test[:200].astype(np.float32) / 255).argmax(axis=1)
    assert model.name == flavor
    assert np.mean(predicted == data.y_test[:200]) > 0.6


def test_train_initial_is_reproducible_for_a_seed() -> None:
    data = load_mnist()
    images, labels = data.x_train[:200], data.y_train[:200]
    probe = data.x_test[:20].astype(np.float32) / 255

    first = train_initial("river", images, labels, epochs=1, seed=7)
    second = train_initial("river", images, labels, epochs=1, seed=7)

    np.testing.assert_array_equal(first.predict_proba(probe), second.predict_proba(probe))


def test_train_initial_refuses_mismatched_labels() -> None:
    with pytest.raises(ValueError, match="labels"):
        train_initial(
            "sklearn", np.zeros((3, 28, 28), np.uint8), np.zeros(2, np.int64), epochs=1, seed=0
        )
