"""``POST /api/v1/pins | promote | rollback``, ``DELETE /api/v1/pins/current`` (role operator).

Each goes through ControlPlane exactly like ``arena pin | unpin | rollback``; the actor in
the audit log is the token's name.
"""

# No ``from __future__ import annotations``: FastAPI must resolve ``Operator``, a local alias.
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from arena.api import views
from arena.api.console import Console
from arena.config import ApiToken


class PinRequest(BaseModel):
    version: int = Field(ge=1)
    reason: str = Field(min_length=1, description="why (kept in the audit log)")
    until: datetime | None = Field(
        None, description="expiry, ISO 8601; without a zone, the database's time zone"
    )


class RollbackRequest(BaseModel):
    reason: str = Field(min_length=1)
    to: int | None = Field(None, ge=1, description="version (default: the previous champion)")
    expect_champion: int | None = Field(
        None, ge=1, description="roll back only this champion; safe to retry"
    )


class PromoteRequest(BaseModel):
    version: int = Field(ge=1)
    reason: str = Field(min_length=1)
    expect_champion: int | None = Field(
        None, ge=1, description="promote only while this version is the champion"
    )


def act_router(console: Console) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["act"])
    Operator = Annotated[ApiToken, Depends(console.auth.require("operator"))]
    control = console.control

    @router.post("/pins", status_code=status.HTTP_201_CREATED)
    def pin(body: PinRequest, caller: Operator) -> dict[str, Any]:
        """Serve a version everywhere and block promotions until unpinned (or ``until``);
        replaces the pin in force, if any."""
        change = control.pin(
            body.version, reason=body.reason, actor=caller.name, expires_at=body.until
        )
        return views.serving_change(change)

    @router.delete("/pins/current")
    def unpin(caller: Operator, reason: Annotated[str, Query(min_length=1)] = "released") -> Any:
        """Release the pin; the scorers go back to the champion."""
        return views.serving_change(control.unpin(reason=reason, actor=caller.name))

    @router.post("/rollback")
    def rollback(body: RollbackRequest, caller: Operator) -> dict[str, Any]:
        """Reject the champion and go back to the previous one (or ``to``)."""
        change = control.rollback(
            reason=body.reason,
            actor=caller.name,
            to_version=body.to,
            expected_champion=body.expect_champion,
        )
        return views.serving_change(change)

    @router.post("/promote")
    def promote(body: PromoteRequest, caller: Operator) -> dict[str, Any]:
        """Make a version the champion by hand (while a pin holds, the pinned one is served)."""
        change = control.promote(
            body.version,
            reason=body.reason,
            actor=caller.name,
            expected_champion=body.expect_champion,
        )
        return views.serving_change(change)

    return router
