"""docker-compose.yml is checked statically (CI has no Docker engine): the Compose Specification's
schema, the ARENA_* names it sets, and the rules a deployment relies on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import SecretStr

from arena.config import DEFAULT_SECRET, StackSettings
from tests.unit.settings_catalogue import known_variables, settings_classes

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


# -- production mode and secrets (issue 9) ------------------------------------------------

ARENA_COMMANDS = ("scorer", "trainer", "evaluator", "api", "watch")
# Interpolated variables that may have a default: none of them is a secret.
NOT_SECRETS = {"DRONE_DIR", "DRONE_SOURCE"}
# What the servers' images read as credentials, and the Arena settings that are credentials
# without being SecretStr (the MinIO user, the API's token hashes).
SERVER_SECRETS = {"POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
SERVER_SECRETS |= {"GF_SECURITY_ADMIN_PASSWORD"}
OTHER_ARENA_SECRETS = {"ARENA_S3_ACCESS_KEY", "ARENA_API_TOKENS"}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?([^}]*)\}")
REQUIRED = re.compile(r"^\$\{([A-Z][A-Z0-9_]*):\?[^}]+\}$")


def _arena_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: s
        for name, s in compose["services"].items()
        if s.get("image") == "arena:local" and name != "migrate"
    }


def _secret_settings() -> set[str]:
    return {
        f"{cls.model_config.get('env_prefix', '')}{name}".upper()
        for cls in settings_classes()
        for name, field in cls.model_fields.items()
        if field.annotation is SecretStr
    }


def test_the_services_of_a_deployment_are_all_there(compose: dict[str, Any]) -> None:
    names = set(compose["services"])
    assert {"kafka", "postgres", "minio", "migrate", "trainer", "evaluator", "cli"} <= names
    assert {"api", "watch", "prometheus", "grafana"} <= names
    commands = {s["command"][0] for s in _arena_services(compose).values()}
    assert set(ARENA_COMMANDS) <= commands


def test_every_arena_container_runs_in_production_mode(compose: dict[str, Any]) -> None:
    arena = [*_arena_services(compose).values(), compose["services"]["migrate"]]
    modes = {_environment(s).get("ARENA_MODE") for s in arena}
    assert modes == {"production"}


def test_every_secret_must_be_given(compose: dict[str, Any]) -> None:
    """No secret has a default: each is ``${VAR:?message}``, so compose stops without it."""
    secrets = _secret_settings() | OTHER_ARENA_SECRETS | SERVER_SECRETS
    found: dict[str, str] = {}
    for name, service in compose["services"].items():
        for var, value in _environment(service).items():
            if var in secrets:
                found[f"{name}.{var}"] = str(value)
    not_required = {k: v for k, v in found.items() if not REQUIRED.match(v)}
    assert not not_required, f"secrets that compose does not require: {not_required}"
    given = {k.split(".", 1)[1] for k in found}
    wanted = {"ARENA_DB_PASSWORD", "ARENA_S3_SECRET_KEY", "ARENA_SIGNING_KEY"}
    assert wanted | OTHER_ARENA_SECRETS | SERVER_SECRETS <= given


def test_only_non_secrets_have_defaults() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert DEFAULT_SECRET not in text
    with_default = {m[1] for m in INTERPOLATION.finditer(text) if m[2] != ":?"}
    assert with_default <= NOT_SECRETS, with_default


def test_env_example_names_every_required_variable_with_no_value() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    required = {m[1] for m in INTERPOLATION.finditer(text) if m[2] == ":?"}
    example: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            example[key] = value
    assert set(example) == required
    assert not any(example.values()), "placeholders only: an unedited copy must not start"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and ".env" in (ROOT / ".dockerignore").read_text().splitlines()


# -- MinIO, the drone folder ----------------------------------------------------------------


def test_minio_is_built_at_the_native_stacks_pin(compose: dict[str, Any]) -> None:
    minio = compose["services"]["minio"]
    assert minio["build"]["args"]["MINIO_VERSION"] == StackSettings().minio_version
    assert StackSettings().minio_version in minio["image"]
    dockerfile = (ROOT / minio["build"]["context"] / "Dockerfile").read_text()
    assert 'go install "github.com/minio/minio@${MINIO_VERSION}"' in dockerfile
    images = [s.get("image", "") for s in compose["services"].values()]
    assert not [i for i in images if i.startswith("minio/")]  # gone from Docker Hub


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> the short-syntax volume entry mounted there (``SOURCE:PATH[:MODE]``,
    the source possibly ``${VAR:-default}``)."""
    return {INTERPOLATION.sub("", str(v)).split(":")[1]: str(v) for v in service["volumes"]}


def test_the_services_that_read_file_references_see_the_drone_folder(
    compose: dict[str, Any],
) -> None:
    readers = {
        name: s
        for name, s in _arena_services(compose).items()
        if s["command"][0] in ("scorer", "trainer", "evaluator")
    }
    assert len(readers) >= 4
    for name, service in readers.items():
        root = _environment(service).get("ARENA_IMAGES_ROOT")
        assert root, name
        mount = _mounts(service).get(root)
        assert mount and mount.endswith(":ro"), f"{name}: {root} is not mounted read-only"


def test_watch_publishes_the_same_folder_and_keeps_its_ledger_outside_it(
    compose: dict[str, Any],
) -> None:
    watch = compose["services"]["watch"]
    command = watch["command"]
    assert command[0] == "watch"
    folder, ledger = command[1], command[command.index("--ledger") + 1]
    scorer_mounts = _mounts(compose["services"]["scorer-1"])
    assert _mounts(watch)[folder] == scorer_mounts[folder]
    ledger_dir = str(Path(ledger).parent)
    named = _mounts(watch)[ledger_dir].split(":")[0]
    assert named in compose["volumes"], "the ledger must live on a volume of its own"
