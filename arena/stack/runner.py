"""``arena stack up | down | status``: install what is missing, start, and wait until each
server really answers (Kafka metadata, ``SELECT 1``, bucket list)."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from arena.config import Settings
from arena.errors import ConfigError
from arena.stack.kafka import KafkaCluster, KafkaServer
from arena.stack.minio import MinioServer
from arena.stack.postgres import PostgresServer

log = logging.getLogger(__name__)


class Server(Protocol):
    name: str

    def install(self) -> bool: ...
    def start(self) -> None: ...
    def ready(self) -> bool: ...
    def wait_ready(self, timeout_s: float) -> float: ...
    def stop(self) -> bool: ...
    def describe(self) -> str: ...


@dataclass(frozen=True)
class ServerReport:
    name: str
    installed_s: float  # time spent installing (0 when cached)
    ready_s: float  # time from start to answering
    description: str


def kafka_server(settings: Settings) -> KafkaServer | KafkaCluster:
    """The native Kafka: one node, or the cluster ``arena stack up --brokers N`` formatted
    (its size is kept in the state directory, so ``down`` and ``status`` find every node)."""
    nodes = _recorded_size(settings) or settings.stack.kafka_brokers or 1
    if nodes == 1:
        return KafkaServer(settings.kafka, settings.stack)
    return KafkaCluster(settings.kafka, settings.stack, nodes)


def _recorded_size(settings: Settings) -> int | None:
    state = settings.stack.state_dir / "kafka"
    if (state / "brokers").exists():
        return int((state / "brokers").read_text())
    return 1 if (state / "data" / "meta.properties").exists() else None  # an older stack


def servers(settings: Settings) -> list[Server]:
    return [
        kafka_server(settings),
        PostgresServer(settings.db, settings.stack),
        MinioServer(settings.s3, settings.stack),
    ]


def _check_kafka_size(settings: Settings) -> None:
    """Record the cluster's size at its first start; refuse to start it as another size."""
    size, wanted = _recorded_size(settings), settings.stack.kafka_brokers
    state = settings.stack.state_dir / "kafka"
    if size is not None and wanted is not None and size != wanted:
        raise ConfigError(
            f"ARENA_STACK_KAFKA_BROKERS={wanted} (--brokers): the stack's Kafka in {state} was "
            f"formatted as {size} node(s); run `arena stack down`, remove "
            f"{settings.stack.state_dir}/kafka*, then `arena stack up --brokers {wanted}`"
        )
    state.mkdir(parents=True, exist_ok=True)
    (state / "brokers").write_text(str(size or wanted or 1))


def _bring_up(server: Server, timeout_s: float) -> ServerReport:
    t0 = time.monotonic()
    installed = server.install()
    t1 = time.monotonic()
    server.start()
    server.wait_ready(timeout_s)
    t2 = time.monotonic()
    return ServerReport(server.name, t1 - t0 if installed else 0.0, t2 - t1, server.describe())


def up(settings: Settings) -> list[ServerReport]:
    """Install, start and wait for every server, concurrently. Idempotent."""
    settings.stack.state_dir.mkdir(parents=True, exist_ok=True)
    _check_kafka_size(settings)
    timeout = settings.stack.start_timeout_s
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(_bring_up, s, timeout) for s in servers(settings)]
        return [f.result() for f in futures]


def down(settings: Settings) -> list[tuple[str, bool]]:
    """Stop every server; returns (name, was running)."""
    return [(s.name, s.stop()) for s in servers(settings)]


def status(settings: Settings) -> list[tuple[str, bool, str]]:
    """(name, answering, where) for every server."""
    rows = []
    for server in servers(settings):
        try:
            answering = server.ready()
        except Exception as exc:
            log.debug("%s not answering: %s", server.name, exc)
            answering = False
        rows.append((server.name, answering, server.describe()))
    return rows
