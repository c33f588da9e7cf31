"""Pure domain logic: training lineage and pin expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.domain import ArtifactRef, ModelVersion, OffsetRange, Pin, VersionStatus

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _version(*ranges: OffsetRange) -> ModelVersion:
    return ModelVersion(
        id=1,
        flavor="river",
        artifact=ArtifactRef("s3://m/sha256/ab", "ab", 2),
        parent_id=None,
        training_ranges=ranges,
        hyperparameters={},
        created_at=T0,
        status=VersionStatus.CANDIDATE,
    )


def test_trained_on_is_inclusive_per_topic_partition() -> None:
    version = _version(OffsetRange("labels", 0, 10, 20), OffsetRange("labels", 1, 0, 5))

    assert version.trained_on("labels", 0, 10)
    assert version.trained_on("labels", 0, 20)
    assert not version.trained_on("labels", 0, 21)
    assert not version.trained_on("labels", 0, 9)
    assert version.trained_on("labels", 1, 5)
    assert not version.trained_on("labels", 2, 5)
    assert not version.trained_on("images", 0, 15)


def test_a_version_without_ranges_trained_on_nothing() -> None:
    assert not _version().trained_on("labels", 0, 0)


def test_pin_without_expiry_is_active_until_released() -> None:
    pin = Pin(1, 7, "ops", "incident", T0)
    released = Pin(1, 7, "ops", "incident", T0, released_at=T0 + timedelta(hours=1))

    assert pin.active_at(T0 + timedelta(days=365))
    assert released.active_at(T0 + timedelta(minutes=59))
    assert not released.active_at(T0 + timedelta(hours=1))


def test_pin_expires_at_its_deadline() -> None:
    pin = Pin(1, 7, "ops", "incident", T0, expires_at=T0 + timedelta(hours=1))

    assert pin.active_at(T0 + timedelta(minutes=59))
    assert not pin.active_at(T0 + timedelta(hours=1))
