"""Shifted copies for recovery fine-tunes: the labels follow their images, every copy is its
original moved by at most MAX_SHIFT_PX, and nothing else changes."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.augment import MAX_SHIFT_PX, with_shifted_copies


def dots(n: int, side: int = 12) -> np.ndarray:
    """Image i: a single bright pixel at (2 + i % 8, 3 + i % 7), on a grey background."""
    images = np.full((n, side, side), 0.25, dtype=np.float32)
    for i in range(n):
        images[i, 2 + i % 8, 3 + i % 7] = 1.0
    return images


def test_copies_are_shifts_of_their_own_original_within_the_bound() -> None:
    images, labels = dots(40), np.arange(40, dtype=np.int64)

    out, out_labels = with_shifted_copies(images, labels, 3, np.random.default_rng(1))

    assert out.shape == (120, 12, 12) and out.dtype == np.float32
    assert np.array_equal(out[:40], images)  # the originals come first, untouched
    assert np.array_equal(out_labels, np.tile(labels, 3))
    moves = set()
    for k in range(40, 120):
        (y0, x0), (y1, x1) = np.argwhere(images[k % 40] == 1.0)[0], np.argwhere(out[k] == 1.0)[0]
        assert abs(y1 - y0) <= MAX_SHIFT_PX and abs(x1 - x0) <= MAX_SHIFT_PX
        assert np.count_nonzero(out[k] == 1.0) == 1  # the edge fill repeats the grey border
        assert np.allclose(out[k][out[k] != 1.0], 0.25)
        moves.add((y1 - y0, x1 - x0))
    assert len(moves) > 5  # shifts are drawn, not one fixed offset


def test_one_copy_is_the_examples_alone() -> None:
    images, labels = dots(3), np.arange(3, dtype=np.int64)

    out, out_labels = with_shifted_copies(images, labels, 1, np.random.default_rng(0))

    assert out is images and out_labels is labels


def test_zero_copies_is_refused() -> None:
    with pytest.raises(ValueError, match="copies must be >= 1"):
        with_shifted_copies(dots(1), np.zeros(1, np.int64), 0, np.random.default_rng(0))
