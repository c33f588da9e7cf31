"""A scorer loads only what the registry serves; anything else is refused, not retried."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from arena.events import ModelEvent, ModelEventKind
from scorer.app import serving_loader
from scorer.reload import REFUSED
from storage.errors import NotServing

SHA = "ab" * 32


def event(version: int) -> ModelEvent:
    return ModelEvent(ModelEventKind.PROMOTED, version, f"s3://m/sha256/{SHA}", SHA, "river")


@dataclass
class FakeRegistry:
    serving: int | None

    def serving_version(self) -> Any:
        return None if self.serving is None else SimpleNamespace(id=self.serving)


@dataclass
class FakeLoader:
    loaded: list[int] = field(default_factory=list)
    runtimes: list[str] = field(default_factory=list)

    def load(
        self, version_id: int, *, expected_sha256: str | None = None, runtime: str = "native"
    ) -> Any:
        self.loaded.append(version_id)
        self.runtimes.append(runtime)
        return SimpleNamespace(version=version_id, model=SimpleNamespace(warm_up=lambda n: None))


@pytest.mark.parametrize(("serving", "served"), [(1, "version 1"), (None, "nothing")])
def test_a_version_the_registry_does_not_serve_is_refused(serving: int | None, served: str) -> None:
    loader = FakeLoader()
    load = serving_loader(loader, FakeRegistry(serving), 8)  # type: ignore[arg-type]
    with pytest.raises(
        NotServing, match=f"version 2 is not what the registry serves \\({served}\\)"
    ):
        load(event(2))
    assert loader.loaded == [], "nothing was downloaded"
    assert isinstance(NotServing("x"), REFUSED), "a refusal, reported load_failed, not retried"


def test_the_serving_version_loads() -> None:
    loader = FakeLoader()
    load = serving_loader(loader, FakeRegistry(2), 8)  # type: ignore[arg-type]
    assert load(event(2)).version == 2
    assert loader.loaded == [2]
    assert loader.runtimes == ["auto"]  # the ONNX form when the version has one


def test_the_configured_runtime_is_asked_for() -> None:
    loader = FakeLoader()
    load = serving_loader(loader, FakeRegistry(2), 8, "native")  # type: ignore[arg-type]
    load(event(2))
    assert loader.runtimes == ["native"]
