"""docker-compose.yml is checked statically (CI has no Docker engine): the Compose Specification's
schema, the ARENA_* names it sets, and the rules a deployment relies on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.unit.settings_catalogue import known_variables

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("compose") / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return dict(env)


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(
        jsonschema.Draft201909Validator(schema).iter_errors(compose), key=lambda e: e.json_path
    )
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_wrong_file(compose: dict[str, Any]) -> None:
    broken = {**compose, "services": {"kafka": {**compose["services"]["kafka"], "ports": 19092}}}
    assert not jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text())).is_valid(broken)


def test_every_arena_variable_is_a_setting(compose: dict[str, Any]) -> None:
    known = known_variables()
    unknown = {
        f"{name}: {var}"
        for name, service in compose["services"].items()
        for var in _environment(service)
        if var.startswith("ARENA_") and var not in known
    }
    assert not unknown, f"no such setting in arena/config.py: {sorted(unknown)}"


def test_published_ports_are_loopback_only(compose: dict[str, Any]) -> None:
    ports = [p for s in compose["services"].values() for p in s.get("ports", [])]
    assert ports and all(str(p).startswith("127.0.0.1:") for p in ports), ports


def test_every_scorer_has_its_own_stable_id(compose: dict[str, Any]) -> None:
    scorers = [s for s in compose["services"].values() if s.get("command") == ["scorer"]]
    ids = [_environment(s).get("ARENA_SCORER_SCORER_ID") for s in scorers]
    assert len(scorers) >= 2 and None not in ids and len(set(ids)) == len(ids)
    assert all("replicas" not in s.get("deploy", {}) for s in scorers)
