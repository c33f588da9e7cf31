"""Registry rows for unit tests of pure logic: a ``ModelVersion`` with only what a test sets."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.domain import ArtifactRef, ModelVersion, OffsetRange, VersionStatus

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def model_version(
    vid: int,
    *ranges: OffsetRange,
    parent: int | None = None,
    status: VersionStatus = VersionStatus.CANDIDATE,
) -> ModelVersion:
    """Version ``vid`` (keras), fine-tuned from ``parent``, trained on ``ranges``."""
    return ModelVersion(
        id=vid,
        flavor="keras",
        artifact=ArtifactRef("s3://arena-models/sha256/00", "0" * 64, 1),
        parent_id=parent,
        training_ranges=ranges,
        hyperparameters={},
        created_at=CREATED,
        status=status,
    )
