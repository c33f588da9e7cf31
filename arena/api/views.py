"""The JSON shape of each domain object in the API (one place, so every endpoint agrees)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi.encoders import jsonable_encoder

from arena.api.fleet import FleetState
from arena.control import ServingChange
from storage.domain import ModelVersion


def plain(obj: Any) -> Any:
    """Dataclasses, enums and datetimes (ISO 8601) as JSON values."""
    return jsonable_encoder(obj)


def version_summary(v: ModelVersion, serving_id: int | None) -> dict[str, Any]:
    return {
        "id": v.id,
        "flavor": v.flavor,
        "status": v.status.value,
        "status_reason": v.status_reason,
        "parent_id": v.parent_id,
        "serving": v.id == serving_id,
        "created_at": v.created_at.isoformat(),
    }


def version_detail(
    v: ModelVersion,
    serving_id: int | None,
    lineage: list[ModelVersion],
    latest_metrics: dict[str, float],
) -> dict[str, Any]:
    return {
        **version_summary(v, serving_id),
        "artifact": dataclasses.asdict(v.artifact),
        "lineage": [version_summary(p, serving_id) for p in lineage],
        "training_ranges": [dataclasses.asdict(r) for r in v.training_ranges],
        "hyperparameters": plain(v.hyperparameters),
        "latest_metrics": latest_metrics,
    }


def serving_change(change: ServingChange) -> dict[str, Any]:
    """What an operator's action did: the version now served and the event announced."""
    return {"serving": change.version.id, "event": plain(change.event)}


def fleet(state: FleetState, champion: int | None, serving: int | None, pin: Any) -> dict[str, Any]:
    lag = [{**dataclasses.asdict(p), "lag": p.lag} for p in state.lag]
    known = [p.lag for p in state.lag if p.lag is not None]
    stale = state.stale_ids()
    return {
        "champion": champion,
        "serving": serving,
        "pin": plain(pin),
        "scorers": [
            {
                "scorer_id": s.scorer_id,
                "version": s.version,
                "state": s.state,
                "error": s.error,
                "last_seen_ms": s.timestamp_ms,
                "stale": s.scorer_id in stale,
                "up_to_date": s.state == "serving" and s.version == serving,
            }
            for s in state.scorers
        ],
        "lag": lag,
        "total_lag": sum(known) if known else None,
    }
