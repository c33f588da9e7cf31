"""Fixtures for the learning-loop tests: a fresh registry, own topics, real trained models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from arena.bus.producer import make_producer
from arena.bus.topics import default_topics, delete_topics, ensure_topics
from arena.config import Settings
from arena.control import ControlPlane
from arena.datasets import load_mnist
from arena.deployment import isolated_deployment
from arena.flavors import ModelFlavor
from arena.flavors.pretrain import train_initial
from arena.signing import ArtifactSigner
from storage import migrate
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.domain import ModelVersion
from storage.registry import Registry


@dataclass
class Models:
    good: ModelFlavor  # trained on 2,000 digits
    bad: ModelFlavor  # trained on shuffled labels: near chance


@pytest.fixture(scope="session")
def models() -> Models:
    data = load_mnist()
    x, y = data.x_train[:2000], data.y_train[:2000]
    good = train_initial("keras", x, y, epochs=2, seed=0)
    shuffled = np.random.default_rng(1).permutation(y)
    bad = train_initial("keras", x[:500], shuffled[:500], epochs=1, seed=1)
    return Models(good, bad)


@dataclass
class Loop:
    settings: Settings
    control: ControlPlane
    store: ArtifactStore

    @property
    def registry(self) -> Registry:
        return self.control.registry

    def register(self, model: ModelFlavor, parent: int | None = None) -> ModelVersion:
        ref = self.store.put(model.to_bytes())
        return self.registry.register_version(
            model.name,
            ref,
            parent_id=parent,
            training_ranges=(),
            hyperparameters={},
            signature=self.signer.sign(model.name, ref.sha256, ref.size),
        )

    @property
    def signer(self) -> ArtifactSigner:
        return ArtifactSigner(self.settings.signing.key)


@pytest.fixture
def loop(settings: Settings) -> Iterator[Loop]:
    """A deployment of its own: fresh database, own topics, its control plane."""
    run_id = uuid.uuid4().hex[:8]
    s = isolated_deployment(settings, f"arena.demo-{run_id}", f"arena_test_{run_id}")
    migrate.recreate(s.db)
    ensure_topics(s.kafka, default_topics(s.kafka))
    with ArtifactStore(s.s3) as store:
        control = ControlPlane(Registry(make_engine(s.db)), store, make_producer(s.kafka), s.kafka)
        yield Loop(s, control, store)
    delete_topics(s.kafka, [spec.name for spec in default_topics(s.kafka)])
    migrate.drop(s.db)
