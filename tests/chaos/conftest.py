"""Fixtures of the chaos suite: its own stack, one trained champion, the run's scale.

The suite is opt-in, since it takes half an hour and starts a second stack: ``--chaos``
(``make chaos``) runs every scenario; ``--chaos-reduced`` (``make chaos-reduced``, or
``ARENA_CHAOS_REDUCED=1``) runs only those marked ``chaos_reduced`` (1, 2 and 6) with fewer
events and fewer faults, the CI guard. Without either, a bare ``pytest`` deselects them and
says so.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.config import Settings
from arena.flavors import ModelFlavor
from tests.chaos.report import OUT_DIR
from tests.chaos.scale import FULL, REDUCED, Scale
from tests.chaos.stack import ChaosStack, use_chaos_environment

HERE = Path(__file__).parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--chaos",
        action="store_true",
        default=os.environ.get("ARENA_CHAOS", "") in {"1", "true"},
        help="run the chaos scenarios (tests/chaos), all of them at full scale",
    )
    parser.addoption(
        "--chaos-reduced",
        action="store_true",
        default=os.environ.get("ARENA_CHAOS_REDUCED", "") in {"1", "true"},
        help="run the reduced chaos scenarios only (1, 2, 6; fewer events and faults)",
    )
    parser.addoption(
        "--chaos-keep-stack",
        action="store_true",
        default=False,
        help="leave the chaos stack running even if this session started it",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: a fault-injection scenario (tests/chaos)")
    config.addinivalue_line("markers", "chaos_reduced: also part of the reduced chaos run (CI)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reduced = bool(config.getoption("--chaos-reduced"))
    enabled = reduced or bool(config.getoption("--chaos"))
    keep, dropped = [], []
    for item in items:
        if not item.path.is_relative_to(HERE):
            keep.append(item)
            continue
        item.add_marker(pytest.mark.chaos)
        if not enabled or (reduced and item.get_closest_marker("chaos_reduced") is None):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    if not enabled and dropped:
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                f"{len(dropped)} chaos scenarios deselected: run them with --chaos or "
                "--chaos-reduced (make chaos / make chaos-reduced)"
            ),
            stacklevel=2,
        )


@pytest.fixture(scope="session")
def scale(pytestconfig: pytest.Config) -> Scale:
    return REDUCED if pytestconfig.getoption("--chaos-reduced") else FULL


@pytest.fixture(scope="session")
def chaos_settings() -> Settings:
    return use_chaos_environment()


@pytest.fixture(scope="session")
def chaos_stack(chaos_settings: Settings, pytestconfig: pytest.Config) -> Iterator[ChaosStack]:
    """The chaos suite's own servers: started (or reused) once, stopped after if started here."""
    stack = ChaosStack(chaos_settings)
    stack.up()
    yield stack
    if stack.started_here and not pytestconfig.getoption("--chaos-keep-stack"):
        stack.down()


@pytest.fixture(autouse=True)
def healed_stack(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a scenario did to the servers, the next one starts with all of them up."""
    yield
    if "chaos_stack" in request.fixturenames:
        request.getfixturevalue("chaos_stack").heal()


@pytest.fixture(scope="session")
def champion() -> ModelFlavor:
    """A Keras CNN trained on 2,000 MNIST digits (~15 s, once per session). Scenarios
    register it through ``VersionPublisher``, so the scorers serve its ONNX form."""
    from arena.datasets import load_mnist
    from arena.flavors.pretrain import train_initial

    data = load_mnist()
    return train_initial("keras", data.x_train[:2000], data.y_train[:2000], epochs=2, seed=0)


@pytest.fixture
def log_dir(request: pytest.FixtureRequest) -> Path:
    path: Path = OUT_DIR / "logs" / request.node.name
    shutil.rmtree(path, ignore_errors=True)  # this run's logs only
    path.mkdir(parents=True)
    return path
