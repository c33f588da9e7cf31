from __future__ import annotations

import numpy as np
import pytest

from arena.datasets import DRIFTS, apply_drift, contrast, invert, load_mnist, rotate


def test_load_mnist_has_all_70k_digits_as_uint8() -> None:
    data = load_mnist()

    assert data.x_train.shape == (60_000, 28, 28)
    assert data.x_test.shape == (10_000, 28, 28)
    assert data.x_train.dtype == data.x_test.dtype == np.uint8
    assert data.y_train.shape == (60_000,)
    assert data.y_test.shape == (10_000,)
    assert data.y_train.dtype == data.y_test.dtype == np.int64
    assert set(np.unique(data.y_train)) == set(range(10))
    # Digits are white strokes on black, using the full grey range.
    assert data.x_train[:100].max() == 255
    assert np.median(data.x_train[:100]) == 0


def test_load_mnist_is_cached_and_read_only() -> None:
    data = load_mnist()

    assert load_mnist() is data
    with pytest.raises(ValueError, match="read-only"):
        data.x_train[0, 0, 0] = 1


def batch() -> np.ndarray:
    return load_mnist().x_test[:8]


def test_invert_twice_is_identity() -> None:
    images = batch()
    inverted = invert(images)

    assert inverted.dtype == np.uint8
    assert np.array_equal(inverted, 255 - images.astype(np.int32))
    assert np.array_equal(invert(inverted), images)


def test_rotate_quarter_turns_are_exact() -> None:
    images = batch()

    assert np.array_equal(rotate(images, 90), np.rot90(images, 1, axes=(1, 2)))
    assert np.array_equal(rotate(rotate(images, 90), -90), images)
    assert np.array_equal(rotate(images, 360), images)


def test_rotate_other_angles_keeps_size_and_changes_pixels() -> None:
    images = batch()
    rotated = rotate(images, 30)

    assert rotated.shape == images.shape
    assert rotated.dtype == np.uint8
    assert not np.array_equal(rotated, images)


def test_low_contrast_narrows_the_range_around_mid_grey() -> None:
    images = batch()
    low = contrast(images, 0.3)

    assert low.dtype == np.uint8
    assert int(low.max()) - int(low.min()) < 0.35 * (int(images.max()) - int(images.min()))
    assert np.array_equal(contrast(images, 1.0), images)
    assert (contrast(images, 0.0) == 128).all()


@pytest.mark.parametrize("name", sorted(DRIFTS))
def test_apply_drift_by_name_changes_the_images(name: str) -> None:
    images = batch()
    drifted = apply_drift(name, images)

    assert drifted.shape == images.shape
    assert drifted.dtype == np.uint8
    assert not np.array_equal(drifted, images)


def test_apply_drift_unknown_name_lists_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="blur, invert, low-contrast, new-camera, noise, rotate"):
        apply_drift("fog", batch())


def test_transforms_refuse_float_batches() -> None:
    with pytest.raises(ValueError, match="uint8"):
        invert(np.zeros((2, 28, 28), np.float32))  # type: ignore[arg-type]
