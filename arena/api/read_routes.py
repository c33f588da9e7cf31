"""``GET /api/v1/...``: versions, history, audit log, pins, decisions, drift detections, fleet
(role viewer)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from arena.api import views
from arena.api.console import Console
from storage.domain import DecisionOutcome, ModelVersion, VersionStatus
from storage.drift_log import DriftLog

_CSV_FIELDS = (
    "id", "version_id", "metric", "value", "sample_count", "role",
    "window_start", "window_end", "computed_at",
)  # fmt: skip


def read_router(console: Console) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1", tags=["read"], dependencies=[Depends(console.auth.require("viewer"))]
    )
    registry = console.registry

    def serving_id() -> int | None:
        serving = registry.serving_version()
        return serving.id if serving else None

    @router.get("/versions")
    def versions(
        status: VersionStatus | None = None, flavor: str | None = None
    ) -> list[dict[str, Any]]:
        """Every version (oldest first), optionally of one status and flavor, with its parent."""
        served = serving_id()
        return [
            views.version_summary(v, served)
            for v in registry.list_versions(status)
            if flavor is None or v.flavor == flavor
        ]

    @router.get("/versions/{version_id}")
    def version(version_id: int) -> dict[str, Any]:
        """One version: its parent chain, training offset ranges, hyperparameters, metrics."""
        v = registry.get_version(version_id)
        lineage: list[ModelVersion] = []
        parent = v.parent_id
        while parent is not None and len(lineage) < 1000:
            lineage.append(registry.get_version(parent))
            parent = lineage[-1].parent_id
        return views.version_detail(v, serving_id(), lineage, registry.latest_metrics(v.id))

    @router.get("/history", response_model=None)
    def history(
        request: Request,
        version: int | None = None,
        metric: str | None = Query(None, description="e.g. accuracy; all metrics when absent"),
        role: str | None = Query(None, description="champion, challenger or blocked_by_pin"),
        since: datetime | None = None,
        until: datetime | None = None,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    ) -> dict[str, Any] | Response:
        """The score history oldest first, a page at a time; CSV with ``Accept: text/csv``
        (the next page's offset is then in the ``X-Next-Offset`` header)."""
        page = console.reports.history_page(
            version_id=version,
            metric=metric,
            role=role,
            since=since,
            until=until,
            offset=offset,
            limit=limit,
        )
        points = views.plain(page.points)
        if "text/csv" in request.headers.get("accept", ""):
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(points)
            headers = {"X-Total-Count": str(page.total)}
            if page.next_offset is not None:
                headers["X-Next-Offset"] = str(page.next_offset)
            return Response(out.getvalue(), media_type="text/csv", headers=headers)
        return {"points": points, "total": page.total, "next_offset": page.next_offset}

    @router.get("/promotions")
    def promotions(limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[dict[str, Any]]:
        """The audit log (promote, rollback, pin, unpin), oldest first: the latest ``limit``."""
        return views.plain(registry.promotions(limit))  # type: ignore[no-any-return]

    @router.get("/pins")
    def pins(limit: Annotated[int, Query(ge=1, le=1_000)] = 100) -> dict[str, Any]:
        """The pin in force now (null when none), and the pins ever set, newest first."""
        return {
            "current": views.plain(registry.active_pin()),
            "pins": views.plain(console.reports.pins(limit)),
        }

    @router.get("/decisions")
    def decisions(
        version: int | None = None,
        outcome: DecisionOutcome | None = None,
        limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    ) -> list[dict[str, Any]]:
        """Every challenger decision, newest first: outcome, reason, both models' metrics on
        the same events, McNemar's discordant counts and one-sided p-value."""
        found = console.decisions.recent(challenger_version=version, outcome=outcome, limit=limit)
        return views.plain(found)  # type: ignore[no-any-return]

    @router.get("/drift")
    def drift(
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    ) -> list[dict[str, Any]]:
        """Drift detections, newest first: detector, the statistic before and after the
        change, the event it fired at, the first post-drift offset per partition."""
        found = DriftLog(registry.engine).recent(since=since, until=until, limit=limit)
        return views.plain(found)  # type: ignore[no-any-return]

    @router.get("/fleet")
    def fleet() -> dict[str, Any]:
        """Champion and served version; each scorer's version, state and last status time
        (from the scorer-status topic); the scorer group's lag per image-topic partition."""
        champion = registry.champion()
        served = serving_id()
        return views.fleet(
            console.fleet.state(),
            champion.id if champion else None,
            served,
            registry.active_pin(),
        )

    return router
