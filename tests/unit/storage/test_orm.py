"""ORM rows turn into domain objects without a database."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.domain import (
    ArtifactRef,
    Evaluation,
    OffsetRange,
    PromotionKind,
    VersionStatus,
)
from storage.orm import EvaluationRow, ModelVersionRow, PinRow, PromotionRow

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_model_version_row_to_domain() -> None:
    row = ModelVersionRow(
        id=3,
        flavor="keras",
        artifact_uri="s3://m/sha256/ab",
        sha256="ab",
        size_bytes=2,
        parent_id=1,
        training_ranges=[{"topic": "labels", "partition": 0, "first": 1, "last": 9}],
        hyperparameters={"epochs": 2},
        created_at=T0,
        status="champion",
        status_reason="",
    )

    version = row.to_domain()

    assert version.artifact == ArtifactRef("s3://m/sha256/ab", "ab", 2)
    assert version.training_ranges == (OffsetRange("labels", 0, 1, 9),)
    assert version.status is VersionStatus.CHAMPION
    assert version.hyperparameters == {"epochs": 2}
    assert version.hyperparameters is not row.hyperparameters


def test_evaluation_round_trips_through_its_row() -> None:
    evaluation = Evaluation(3, "accuracy", 0.9, 100, T0, T0, T0, role="challenger")

    row = EvaluationRow.from_domain(evaluation)
    row.id = 11

    assert row.to_domain() == Evaluation(
        3, "accuracy", 0.9, 100, T0, T0, T0, id=11, role="challenger"
    )


def test_promotion_and_pin_rows_to_domain() -> None:
    promotion = PromotionRow(
        id=1, kind="rollback", from_version=2, to_version=1, reason="r", actor="a", created_at=T0
    ).to_domain()
    pin = PinRow(
        id=1, version_id=2, actor="a", reason="r", created_at=T0, expires_at=None, released_at=None
    ).to_domain()

    assert promotion.kind is PromotionKind.ROLLBACK
    assert pin.active_at(T0)
