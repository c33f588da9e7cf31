"""The drift detectors on real MNIST digits: quick on a real shift, where it began, quiet
on a stationary stream, and only a change for the worse of the champion counts."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from arena.datasets import DRIFTS, load_mnist
from arena.drift import Detection, DriftMonitor, change_point, input_statistics
from arena.images import to_unit_float
from arena.join import EventPosition

T = "arena.images"
DRIFT_AT = 3_000


def positions(start: int, n: int) -> list[EventPosition]:
    return [EventPosition(T, i % 4, i // 4) for i in range(start, start + n)]


def stream(drift: str | None, n: int = 6_000) -> NDArray[np.float32]:
    images = np.array(load_mnist().x_test[:n])
    if drift is not None:
        images[DRIFT_AT:] = DRIFTS[drift](images[DRIFT_AT:])
    return to_unit_float(images)


def feed(
    monitor: DriftMonitor, images: NDArray[np.float32], batch: int = 100
) -> list[tuple[int, Detection]]:
    found = []
    for b in range(0, len(images), batch):
        for d in monitor.observe_unlabeled(None, images[b : b + batch], positions(b, batch)):
            found.append((b, d))
    return found


@pytest.mark.parametrize("drift", ["invert", "noise", "new-camera", "blur"])
def test_a_camera_drift_is_caught_from_the_pixels_alone(drift: str) -> None:
    found = feed(DriftMonitor(), stream(drift))
    assert found, f"{drift} not detected"
    batch, first = found[0]
    assert DRIFT_AT <= batch < DRIFT_AT + 1_600
    # The boundary is where the drift began, per partition (event i is partition i % 4,
    # offset i // 4), to within one chunk of 8 images.
    for p in range(4):
        assert abs(first.boundary[(T, p)] - DRIFT_AT // 4) <= 2


def test_an_inversion_is_caught_within_a_few_hundred_images() -> None:
    batch, _ = feed(DriftMonitor(), stream("invert"))[0]
    assert batch < DRIFT_AT + 300


def test_a_stationary_stream_raises_no_alarm() -> None:
    assert feed(DriftMonitor(), stream(None, 10_000)) == []


def test_the_champions_error_counts_only_when_it_rises() -> None:
    rng = np.random.default_rng(0)
    up = DriftMonitor()
    errors = np.concatenate([rng.random(1_000) < 0.05, rng.random(1_000) < 0.6])
    hits = up.observe_labeled(errors.tolist(), positions(0, 2_000))
    assert hits and hits[0].statistic == "champion_error" and hits[0].after > hits[0].before
    assert 1_000 <= hits[0].position.offset * 4 + hits[0].position.partition < 1_300

    down = DriftMonitor()
    better = np.concatenate([rng.random(1_000) < 0.6, rng.random(1_000) < 0.05])
    assert down.observe_labeled(better.tolist(), positions(0, 2_000)) == []


def test_post_drift_means_at_or_after_the_boundary_and_unseen_partitions_count_as_new() -> None:
    _, first = feed(DriftMonitor(), stream("invert"))[0]
    boundary = first.boundary[(T, 0)]
    assert first.starts_at(EventPosition(T, 0, boundary))
    assert not first.starts_at(EventPosition(T, 0, boundary - 1))
    assert first.starts_at(EventPosition(T, 9, 0))


def test_change_point_finds_a_step() -> None:
    values = np.concatenate([np.zeros(70), np.ones(30)]) + 0.01 * np.arange(100) % 0.02
    assert change_point(values) == 70


def test_input_statistics_brightness_contrast_edges() -> None:
    flat = np.full((1, 4, 4), 0.5, np.float32)
    checker = np.indices((4, 4)).sum(axis=0) % 2
    stats = input_statistics(np.stack([flat[0], checker.astype(np.float32)]))
    assert stats[0].tolist() == pytest.approx([0.5, 0.0, 0.0])
    assert stats[1].tolist() == pytest.approx([0.5, 0.5, 2.0])


def test_late_labels_do_not_pull_the_boundary_before_the_drift() -> None:
    """Labels arrive 0-600 photos late, each by its own lag: in arrival order, labels of
    pre-drift photos keep coming after the change. The boundary is still where the photos
    changed, per partition (photo 2,000 is offset 500 of each of the 4 partitions)."""
    rng = np.random.default_rng(1)
    photos = 4_000
    wrong = np.where(np.arange(photos) < 2_000, rng.random(photos) < 0.06, rng.random(photos) < 0.8)
    arrival = np.argsort(np.arange(photos) + rng.integers(0, 600, photos), kind="stable")
    at = positions(0, photos)

    hits = DriftMonitor().observe_labeled(
        [bool(wrong[i]) for i in arrival], [at[i] for i in arrival]
    )

    assert hits and hits[0].statistic == "champion_error"
    for partition in range(4):
        assert 475 <= hits[0].boundary[(T, partition)] <= 525, hits[0].boundary  # was 363
