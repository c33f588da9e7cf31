"""Everything the API reads and acts through, built once by the entry point."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from arena.api.auth import TokenAuth
from arena.api.fleet import FleetView
from arena.bus.producer import make_producer
from arena.bus.topics import default_topics, ensure_topics
from arena.config import Settings
from arena.control import ControlPlane
from arena.webhooks import make_notifier
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.decisions import Decisions
from storage.registry import Registry
from storage.reports import Reports


@dataclass(frozen=True)
class Console:
    control: ControlPlane
    reports: Reports
    decisions: Decisions
    fleet: FleetView
    auth: TokenAuth

    @property
    def registry(self) -> Registry:
        return self.control.registry


@contextmanager
def open_console(settings: Settings) -> Iterator[Console]:
    """Connect to the registry, MinIO and Kafka (creating missing topics, as the CLI does)."""
    ensure_topics(settings.kafka, default_topics(settings.kafka))
    engine = make_engine(settings.db)
    producer = make_producer(settings.kafka)
    notifier = make_notifier(settings.webhook)
    try:
        with ArtifactStore(settings.s3) as store:
            yield Console(
                control=ControlPlane(Registry(engine), store, producer, settings.kafka, notifier),
                reports=Reports(engine),
                decisions=Decisions(engine),
                fleet=FleetView(
                    settings.kafka,
                    settings.scorer.group_id,
                    settings.api.fleet_cache_s,
                    settings.scorer.heartbeat_s,
                ),
                auth=TokenAuth(settings.api.parsed_tokens()),
            )
    finally:
        producer.flush(10)
        engine.dispose()
        if notifier is not None:
            notifier.close()
