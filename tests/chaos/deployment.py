"""One scenario's deployment: topics and a database of its own, a champion, a control plane.

Scenarios never mix: each gets ``arena.demo-chaos<id>-<name>.*`` topics, its own consumer
groups and database (the isolation ``arena.deployment.isolated_deployment`` gives demo runs).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from arena.bus.producer import make_producer
from arena.bus.topics import default_topics, delete_topics, ensure_topics, wait_for_leaders
from arena.config import Settings, with_overrides
from arena.control import ControlPlane
from arena.deployment import isolated_deployment
from arena.signing import ArtifactSigner
from storage import migrate
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.domain import ModelVersion
from storage.registry import Registry

PARTITIONS = 4


@dataclass
class Deployment:
    settings: Settings
    control: ControlPlane
    store: ArtifactStore
    champion: ModelVersion
    run_id: str

    @property
    def registry(self) -> Registry:
        return self.control.registry

    def register(self, model_bytes: bytes, flavor: str = "keras") -> ModelVersion:
        ref = self.store.put(model_bytes)
        return self.registry.register_version(
            flavor,
            ref,
            parent_id=self.champion.id,
            training_ranges=(),
            hyperparameters={},
            signature=ArtifactSigner(self.settings.signing.key).sign(flavor, ref.sha256, ref.size),
        )


@contextmanager
def deployment(
    base: Settings, name: str, champion_bytes: bytes, **sections: dict[str, object]
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
    ref = store.put(champion_bytes)
    champion = control.registry.register_version(
        "keras",
        ref,
        parent_id=None,
        training_ranges=(),
        hyperparameters={"source": "chaos"},
        signature=ArtifactSigner(settings.signing.key).sign("keras", ref.sha256, ref.size),
    )
    control.promote(champion.id, reason="chaos initial champion", actor="chaos")
    try:
        yield Deployment(settings, control, store, champion, run_id)
    finally:
        store.close()
        delete_topics(settings.kafka, [spec.name for spec in default_topics(settings.kafka)])
        migrate.drop(settings.db)
