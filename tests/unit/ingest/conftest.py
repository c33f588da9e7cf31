from __future__ import annotations

import os
from pathlib import Path

import pytest

from arena.ingest.ledger import Ledger
from arena.ingest.watch import WatchConfig, Watcher
from tests.unit.ingest.fakes import FakePublisher, FakeUploader

NOW_NS = 1_800_000_000 * 10**9
OLD_NS = NOW_NS - 10 * 10**9  # well past the settle time


def write(root: Path, rel: str, data: bytes = b"\x89PNG-bytes", mtime_ns: int = OLD_NS) -> Path:
    """Write a file and set its mtime (the watcher's clock is fixed at NOW_NS)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


class Rig:
    """A folder, its ledger and fake MinIO/Kafka; ``watcher()`` builds a fresh Watcher."""

    def __init__(self, root: Path) -> None:
        self.root = root / "drone-7"
        self.root.mkdir()
        self.ledger_path = self.root / ".arena-published.jsonl"
        self.uploader = FakeUploader()
        self.publisher = FakePublisher()
        self.now_ns = NOW_NS

    def watcher(self, **config: object) -> Watcher:
        cfg = WatchConfig(root=self.root, source="drone-7", **config)  # type: ignore[arg-type]
        return Watcher(
            cfg, Ledger(self.ledger_path), self.uploader, self.publisher, lambda: self.now_ns
        )

    def delivered_paths(self) -> list[str]:
        return [e.reference.removeprefix("s3://images/drone-7/") for e in self.publisher.delivered]  # type: ignore[union-attr]


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)
