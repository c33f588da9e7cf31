"""One scenario's deployment: topics and a database of its own, a champion, a control plane.

Scenarios never mix: each gets ``arena.demo-chaos<id>-<name>.*`` topics, its own consumer
groups and database (the isolation ``arena.deployment.isolated_deployment`` gives demo runs).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from arena.bus.producer import make_producer
from arena.bus.topics import default_topics, delete_topics, ensure_topics, wait_for_leaders
from arena.config import Settings, with_overrides
from arena.control import ControlPlane
from arena.deployment import isolated_deployment
from arena.flavors import ModelFlavor
from arena.flavors.base import F32Images
from arena.onnx_parity import parity_images
from arena.signing import ArtifactSigner
from storage import migrate
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.domain import ModelVersion
from storage.publish import VersionPublisher
from storage.registry import Registry

PARTITIONS = 4


@cache
def _parity_set() -> F32Images:
    return parity_images()  # loaded once for every scenario's registrations


@dataclass
class Deployment:
    settings: Settings
    control: ControlPlane
    store: ArtifactStore
    champion: ModelVersion
    run_id: str
    publisher: VersionPublisher

    @property
    def registry(self) -> Registry:
        return self.control.registry

    def register(self, model: ModelFlavor) -> ModelVersion:
        """A new version of ``model``, child of the first champion, registered the way the
        trainer registers one (so it has its ONNX form, and the scorers serve that)."""
        return self.publisher.publish(
            model.name, model, parent_id=self.champion.id, training_ranges=(), hyperparameters={}
        )


@contextmanager
def deployment(
    base: Settings, name: str, champion: ModelFlavor, **sections: dict[str, object]
) -> Iterator[Deployment]:
    """A fresh deployment for scenario ``name``; its topics and database are dropped after."""
    run_id = f"chaos{uuid.uuid4().hex[:6]}-{name}"
    settings = isolated_deployment(
        base, f"arena.demo-{run_id}", f"arena_{run_id.replace('-', '_')}"
    )
    merged = {"kafka": {"partitions": PARTITIONS}, **sections}
    settings = with_overrides(settings, **merged)  # type: ignore[arg-type]
    migrate.recreate(settings.db)
    ensure_topics(settings.kafka, default_topics(settings.kafka))
    wait_for_leaders(settings.kafka)
    store = ArtifactStore(settings.s3)
    control = ControlPlane(
        Registry(make_engine(settings.db)), store, make_producer(settings.kafka), settings.kafka
    )
    publisher = VersionPublisher(
        control.registry, store, ArtifactSigner(settings.signing.key), parity_set=_parity_set()
    )
    first = publisher.publish(
        champion.name,
        champion,
        parent_id=None,
        training_ranges=(),
        hyperparameters={"source": "chaos"},
    )
    control.promote(first.id, reason="chaos initial champion", actor="chaos")
    try:
        yield Deployment(settings, control, store, first, run_id, publisher)
    finally:
        store.close()
        delete_topics(settings.kafka, [spec.name for spec in default_topics(settings.kafka)])
        migrate.drop(settings.db)
