"""The list of CLI command modules; each has ``register(app: typer.Typer) -> None``."""

from __future__ import annotations

import importlib
from types import ModuleType

_MODULES = [
    "arena.cli.db_cmd",
    "arena.cli.stack_cmd",
    "arena.cli.services_cmd",
    "arena.cli.ops_cmd",
    "arena.cli.reports_cmd",
    "arena.cli.status_cmd",
    "arena.cli.dlq_cmd",
    "arena.cli.demo_cmd",
    "arena.cli.watch_cmd",
    "arena.cli.api_cmd",
    "arena.cli.schedule_cmd",
]


def modules() -> list[ModuleType]:
    return [importlib.import_module(name) for name in _MODULES]
