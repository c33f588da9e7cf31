"""The API over a test deployment of its own (``loop``), with one viewer and one operator."""

from __future__ import annotations

from arena.api.auth import TokenAuth, token_hash
from arena.api.console import Console
from arena.api.fleet import FleetView
from arena.config import parse_api_tokens
from storage.db import make_engine
from storage.decisions import Decisions
from storage.domain import ModelVersion, OffsetRange
from storage.reports import Reports

from .conftest import Loop

VIEWER = "viewer-token-for-tests"
OPERATOR = "operator-token-for-tests"
TOKENS = f"vera:viewer:{token_hash(VIEWER)},otto:operator:{token_hash(OPERATOR)}"


def console_of(loop: Loop) -> Console:
    engine = make_engine(loop.settings.db)
    return Console(
        control=loop.control,
        reports=Reports(engine),
        decisions=Decisions(engine),
        fleet=FleetView(
            loop.settings.kafka,
            loop.settings.scorer.group_id,
            ttl_s=0,
            heartbeat_s=loop.settings.scorer.heartbeat_s,
        ),
        auth=TokenAuth(parse_api_tokens(TOKENS)),
    )


def as_viewer() -> dict[str, str]:
    return {"Authorization": f"Bearer {VIEWER}"}


def as_operator() -> dict[str, str]:
    return {"Authorization": f"Bearer {OPERATOR}"}


def register_stub(
    loop: Loop, parent: int | None = None, ranges: tuple[OffsetRange, ...] = ()
) -> ModelVersion:
    """A version whose artifact no scorer loads: enough for the registry and control plane."""
    ref = loop.store.put(f"stub model, parent {parent}, {len(ranges)} ranges".encode())
    return loop.registry.register_version(
        "keras",
        ref,
        parent_id=parent,
        training_ranges=ranges,
        hyperparameters={"epochs": 2},
        signature=loop.signer.sign("keras", ref.sha256, ref.size),
    )
