"""The hashed lock files (`make lock`) still match pyproject.toml, and every install uses them:
a dependency changed in pyproject.toml without `make lock` fails here, not in the image build."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")

Pins = dict[str, tuple[str, frozenset[str]]]


def pins(name: str) -> Pins:
    """name -> (version, its sha256 hashes), from a lock file in pip's requirements format."""
    found: dict[str, tuple[str, set[str]]] = {}
    current = ""
    for line in (ROOT / name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match[1])
            found[current] = (match[2], set())
        elif line.strip() and not line.lstrip().startswith("#"):
            assert line.startswith("    --hash="), f"{name}: unexpected line {line!r}"
        for digest in HASH.findall(line):
            found[current][1].add(digest)
    return {k: (version, frozenset(hashes)) for k, (version, hashes) in found.items()}


def project() -> dict[str, list[str]]:
    loaded = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"runtime": loaded["dependencies"], "dev": loaded["optional-dependencies"]["dev"]}


def _unsatisfied(requirements: list[str], locked: Pins) -> list[str]:
    wrong = []
    for text in requirements:
        req = Requirement(text)
        wanted = [canonicalize_name(req.name)]
        wanted += [canonicalize_name(f"{req.name}-{extra}") for extra in req.extras]
        pinned = locked.get(wanted[0])
        if pinned is None or not req.specifier.contains(pinned[0], prereleases=True):
            wrong.append(f"{text} (locked: {pinned[0] if pinned else 'missing'})")
        wrong += [f"{text}: {w} missing" for w in wanted[1:] if w not in locked]
    return wrong


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-runtime.lock"])
def test_every_pin_has_hashes(lock: str) -> None:
    locked = pins(lock)
    assert len(locked) > 50  # the parser still finds the pins
    assert not [name for name, (_, hashes) in locked.items() if not hashes]


def test_the_lock_pins_every_runtime_and_dev_requirement() -> None:
    deps = project()
    wrong = _unsatisfied(deps["runtime"] + deps["dev"], pins("requirements.lock"))
    assert not wrong, f"pyproject.toml and requirements.lock disagree (run make lock): {wrong}"


def test_the_runtime_lock_is_the_same_pins_without_the_dev_tools() -> None:
    full, runtime = pins("requirements.lock"), pins("requirements-runtime.lock")
    assert not _unsatisfied(project()["runtime"], runtime)
    differ = sorted(name for name in runtime if runtime[name] != full.get(name))
    assert not differ, f"requirements-runtime.lock differs from requirements.lock: {differ}"
    assert "pytest" in full and "pytest" not in runtime


def test_the_build_backend_is_locked_too() -> None:
    """Both installs build arena without isolation, from the locked setuptools."""
    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for lock in ("requirements.lock", "requirements-runtime.lock"):
        assert not _unsatisfied(wanted, pins(lock)), lock


def test_the_image_and_the_venv_install_only_from_the_locks() -> None:
    docker = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install [^&\n]*", docker)
    assert "pip install --require-hashes -r requirements-runtime.lock " in installs
    assert all("--require-hashes" in i or "--no-deps --no-build-isolation" in i for i in installs)
    assert re.search(r"^USER arena$", docker, re.M) and "--uid 10001" in docker
    make = (ROOT / "Makefile").read_text()
    assert "pip install -q --require-hashes -r requirements.lock" in make
    assert "pip install -q --no-deps --no-build-isolation -e ." in make
    assert "cat pyproject.toml requirements.lock" in make  # the lock is an input of the stamp
