"""Finding the external tools the stack needs, with an error that names the missing one."""

from __future__ import annotations

import os
import shutil

from arena.errors import MissingToolError

_HINTS = {
    "java": "install a JDK 17+ (Debian: apt-get install openjdk-17-jre-headless)",
    "mvn": "install Maven (Debian: apt-get install maven)",
    "go": "install Go 1.24+ (https://go.dev/doc/install)",
    "runuser": "install util-linux",
}


def require_tool(name: str) -> str:
    """The absolute path of ``name`` on PATH, or MissingToolError naming it and how to get it."""
    path = shutil.which(name)
    if path is None:
        hint = _HINTS.get(name, "install it and put it on PATH")
        raise MissingToolError(f"'{name}' is required by `arena stack up` but not found: {hint}")
    return path


def is_root() -> bool:
    return os.geteuid() == 0
