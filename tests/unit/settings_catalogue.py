"""Every ARENA_* variable arena/config.py reads, from its settings classes (for the file checks)."""

from __future__ import annotations

import inspect
from typing import Any

from pydantic_settings import BaseSettings

from arena import config


def settings_classes() -> list[type[BaseSettings]]:
    return [
        cls
        for _, cls in inspect.getmembers(config, inspect.isclass)
        if issubclass(cls, BaseSettings) and cls is not BaseSettings
    ]


def known_variables() -> dict[str, Any]:
    """``ARENA_KAFKA_BOOTSTRAP`` -> its field's default, for every field of every class."""
    found: dict[str, Any] = {}
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            found[f"{prefix}{name}".upper()] = field.default
    return found
