from __future__ import annotations

import pytest

from arena.errors import ConfigError, MissingToolError
from arena.stack.kafka import split_host_port
from arena.stack.tools import require_tool


def test_missing_tool_error_names_the_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingToolError, match="'mvn' is required"):
        require_tool("mvn")


def test_split_host_port_names_the_setting_on_error() -> None:
    assert split_host_port("127.0.0.1:19092", "ARENA_KAFKA_BOOTSTRAP") == ("127.0.0.1", 19092)
    with pytest.raises(ConfigError, match="ARENA_KAFKA_BOOTSTRAP"):
        split_host_port("localhost", "ARENA_KAFKA_BOOTSTRAP")
