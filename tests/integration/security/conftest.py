"""A secure stack of the tests' own (``ARENA_STACK_SECURE``): SASL/SCRAM + ACLs on Kafka,
least-privilege roles on PostgreSQL, per-service MinIO users.

Like the chaos suite it never touches the shared stack: its own ports and state directory
(``SECURE_STACK``); started if not running, left running for the next run (``arena stack
down`` with the same variables stops it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arena.config import Settings
from arena.stack import runner
from arena.stack.credentials import StackCredentials, load_or_create

# Ports below the kernel's ephemeral range (32768-60999), as every stack's: a client socket
# could otherwise hold one when a server starts (seen: a bench cluster node failed to bind).
SECURE_STACK = {
    "kafka": {"bootstrap": os.environ.get("ARENA_SECURE_KAFKA_BOOTSTRAP", "127.0.0.1:22092")},
    "db": {"port": int(os.environ.get("ARENA_SECURE_DB_PORT", "22432"))},
    "s3": {"endpoint": os.environ.get("ARENA_SECURE_S3_ENDPOINT", "127.0.0.1:22000")},
    "stack": {
        "secure": True,
        "kafka_controller_port": int(os.environ.get("ARENA_SECURE_CONTROLLER_PORT", "22093")),
        "minio_console_port": int(os.environ.get("ARENA_SECURE_MINIO_CONSOLE_PORT", "22001")),
        "state_dir": Path(os.environ.get("ARENA_SECURE_STATE_DIR", "/var/tmp/arena-secure")),
    },
}
SHARED = {"127.0.0.1:19092", "127.0.0.1:29092"}


@pytest.fixture(scope="session")
def secure_settings() -> Settings:
    """Settings of the secure stack, as its admin sees it (started if not running)."""
    settings = Settings(**SECURE_STACK)
    if settings.kafka.bootstrap in SHARED or settings.db.port in {15432, 25432}:
        raise RuntimeError("the secure-stack tests refuse to run on the shared or chaos ports")
    runner.up(settings)
    return settings


@pytest.fixture(scope="session")
def credentials(secure_settings: Settings) -> StackCredentials:
    return load_or_create(secure_settings.stack.state_dir)
