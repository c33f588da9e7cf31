"""The per-role credentials of a secure stack (``ARENA_STACK_SECURE``).

Generated once, the first time a secure stack starts, and kept in
``<state_dir>/credentials.json`` (mode 0600): one Kafka SCRAM principal and one MinIO user
per role, each with its own random password, so a leaked Kafka password opens no bucket.
Hand each service only its own pair; the ``admin`` entries are the stack's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

# Who connects: producers (drones, ``arena watch``), the three services, and the operator
# (``arena pin / rollback / bootstrap``, ``arena api``).
ROLES = ("producer", "scorer", "trainer", "evaluator", "operator")
ADMIN = "admin"  # the broker's own (inter-broker, controller) and the stack's provisioning
MINIO_ROLES = ("producer", "scorer", "trainer", "evaluator", "operator")


def principal(role: str) -> str:
    """The Kafka principal and MinIO user of a role: ``arena-<role>``."""
    return f"arena-{role}"


@dataclass(frozen=True, slots=True)
class StackCredentials:
    """Passwords by role: ``kafka[role]`` (SCRAM) and ``minio[role]`` (secret key)."""

    kafka: dict[str, str]
    minio: dict[str, str]

    @property
    def kafka_admin_password(self) -> str:
        return self.kafka[ADMIN]


def credentials_path(state_dir: Path) -> Path:
    return state_dir / "credentials.json"


def load_or_create(state_dir: Path) -> StackCredentials:
    """The stack's credentials, generated on first use; safe to call concurrently (the file
    appears atomically, and the first writer wins)."""
    path = credentials_path(state_dir)
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        fresh = {
            "kafka": {role: secrets.token_urlsafe(24) for role in (ADMIN, *ROLES)},
            "minio": {role: secrets.token_urlsafe(24) for role in MINIO_ROLES},
        }
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(fresh, out, indent=2)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        tmp.unlink()
    data = json.loads(path.read_text())
    return StackCredentials(kafka=dict(data["kafka"]), minio=dict(data["minio"]))
