"""The chaos suite's own native stack, and the faults it injects into its servers.

Chaos kills servers, so it never touches the shared stack: it runs a second one on its own
ports and state directory (``CHAOS_ENV``, each value overridable from the environment). The
faults act on the real processes: ``kill -9``, SIGSTOP/SIGCONT of the pid the stack code
recorded, and "down" = stop the server and start it again through the stack code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from arena.config import Settings
from arena.stack import runner
from arena.stack.kafka import KafkaServer
from arena.stack.minio import MinioServer
from arena.stack.postgres import PostgresServer
from arena.stack.process import process_alive
from arena.stack.runner import Server

CHAOS_ENV = {
    "ARENA_KAFKA_BOOTSTRAP": "127.0.0.1:29092",
    "ARENA_STACK_KAFKA_CONTROLLER_PORT": "29093",
    "ARENA_DB_PORT": "25432",
    "ARENA_S3_ENDPOINT": "127.0.0.1:29000",
    "ARENA_STACK_MINIO_CONSOLE_PORT": "29001",
    "ARENA_STACK_STATE_DIR": "/var/tmp/arena-chaos",
    "ARENA_STACK_CACHE_DIR": str(Path.home() / ".cache" / "arena"),
    "TF_CPP_MIN_LOG_LEVEL": "2",
}

SHARED_PORTS = {"127.0.0.1:19092", "127.0.0.1:19000"}


def use_chaos_environment() -> Settings:
    """Point this process (and every service it launches) at the chaos stack."""
    for name, value in CHAOS_ENV.items():
        os.environ.setdefault(name, value)
    settings = Settings()
    if settings.kafka.bootstrap in SHARED_PORTS or settings.db.port == 15432:
        raise RuntimeError("the chaos suite refuses to run against the shared stack's ports")
    return settings


class ChaosStack:
    """The three servers of the chaos stack, and the faults the scenarios inject."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka = KafkaServer(settings.kafka, settings.stack)
        self.postgres = PostgresServer(settings.db, settings.stack)
        self.minio = MinioServer(settings.s3, settings.stack)
        self.started_here = False

    def up(self) -> None:
        """Start what is not running (installs are cached); wait until each answers."""
        self.started_here = not all(answering for _, answering, _ in runner.status(self.settings))
        runner.up(self.settings)

    def down(self) -> None:
        runner.down(self.settings)

    def heal(self) -> None:
        """After a scenario: continue what a fault left stopped, start what it left down."""
        for server in ("kafka", "minio"):
            with contextlib.suppress(RuntimeError, ProcessLookupError):
                self.signal(server, signal.SIGCONT)
        runner.up(self.settings)

    def pid(self, server: str) -> int:
        """The pid of a running server (PostgreSQL: its postmaster)."""
        if server == "postgres":
            return int((self.postgres.data / "postmaster.pid").read_text().split()[0])
        process = {"kafka": self.kafka.process, "minio": self.minio.process}[server].pid()
        if process is None:
            raise RuntimeError(f"{server} is not running")
        return process

    def signal(self, server: str, sig: signal.Signals) -> None:
        """Send ``sig`` to the server's process group (each runs in a session of its own)."""
        os.killpg(self.pid(server), sig)

    def kill9(self, server: str) -> None:
        """kill -9 and wait until the process is gone (its pid file then goes stale)."""
        pid = self.pid(server)
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def server(self, name: str) -> Server:
        servers: dict[str, Server] = {
            "kafka": self.kafka,
            "postgres": self.postgres,
            "minio": self.minio,
        }
        return servers[name]

    def stop(self, server: str) -> None:
        self.server(server).stop()

    def start(self, server: str) -> float:
        """Start the server through the stack code; the monotonic time it answered."""
        target = self.server(server)
        target.start()
        target.wait_ready(self.settings.stack.start_timeout_s)
        return time.monotonic()

    def wait_answering(self, server: str) -> float:
        """Wait until the (already started) server answers; the monotonic time it did."""
        target = self.server(server)
        target.wait_ready(self.settings.stack.start_timeout_s)
        return time.monotonic()
