"""The watcher's ledger: an append-only JSON-lines file of the files already handled.

One line per file version: its path (relative to the watched folder), size and mtime, and
either the event it was published as or why it was skipped. A file version is identified by
``(path, size, mtime_ns)``: a file rewritten later (other size or mtime) is a new photo.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Literal, cast

from arena.errors import ArenaError

log = logging.getLogger(__name__)

FileVersion = tuple[str, int, int]  # relative path, size, mtime_ns


class LedgerError(ArenaError):
    """The ledger file cannot be read or is corrupt (other than a torn last line)."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One handled file version: published as ``event_id`` at ``uri``, or skipped for ``reason``."""

    path: str
    size: int
    mtime_ns: int
    status: Literal["published", "skipped"]
    event_id: str | None = None
    uri: str | None = None
    reason: str = ""

    @property
    def version(self) -> FileVersion:
        return (self.path, self.size, self.mtime_ns)


class Ledger:
    """The entries of one ledger file, loaded at start and appended to after each delivery."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._versions: set[FileVersion] = set()
        self._published_paths: set[str] = set()
        self._load()

    def __contains__(self, version: FileVersion) -> bool:
        return version in self._versions

    def __len__(self) -> int:
        return len(self._versions)

    def has_published(self, path: str) -> bool:
        """Whether some version of ``path`` was published before (its object gets overwritten)."""
        return path in self._published_paths

    def append(self, entries: Iterable[LedgerEntry]) -> None:
        """Append ``entries`` and fsync, so they survive a crash once this returns."""
        entries = list(entries)
        if not entries:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(asdict(e), separators=(",", ":")) + "\n" for e in entries)
        with _open_nofollow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "a") as f:
            f.write(lines.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        for e in entries:
            self._remember(e)

    def _remember(self, entry: LedgerEntry) -> None:
        self._versions.add(entry.version)
        if entry.status == "published":
            self._published_paths.add(entry.path)

    def _load(self) -> None:
        try:
            with _open_nofollow(self.path, os.O_RDONLY, "r") as f:
                text = f.read().decode("utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            raise LedgerError(f"cannot read the ledger {self.path}: {exc}") from exc
        lines = text.split("\n")
        torn = lines.pop()  # "" when the file ends with a newline, as every complete write does
        for number, line in enumerate(lines, start=1):
            if line:
                self._remember(_parse(self.path, number, line))
        if torn:
            self._drop_torn_tail(len(text.encode("utf-8")) - len(torn.encode("utf-8")), torn)

    def _drop_torn_tail(self, keep_bytes: int, torn: str) -> None:
        # A crash in the middle of an append leaves a partial last line. Its files were
        # delivered but not recorded, so they are published again (with the same event ids).
        log.warning(
            "ledger %s: dropping an incomplete last line (%d bytes) left by a crash: %r",
            self.path,
            len(torn),
            torn[:200],
        )
        with _open_nofollow(self.path, os.O_RDWR, "r+") as f:
            f.truncate(keep_bytes)
            f.flush()
            os.fsync(f.fileno())


def _open_nofollow(path: Path, flags: int, mode: str) -> BinaryIO:
    """Open the ledger itself, never a symlink in its place (which would make ``arena
    watch`` append to, or truncate, whatever file it points at)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LedgerError(f"the ledger {path} is a symbolic link: refusing to use it") from exc
        raise
    return cast(BinaryIO, os.fdopen(fd, mode + "b"))


def _parse(path: Path, number: int, line: str) -> LedgerEntry:
    try:
        doc = json.loads(line)
        status = doc["status"]
        if status not in ("published", "skipped"):
            raise ValueError(f"unknown status {status!r}")
        return LedgerEntry(
            path=str(doc["path"]),
            size=int(doc["size"]),
            mtime_ns=int(doc["mtime_ns"]),
            status=status,
            event_id=doc.get("event_id"),
            uri=doc.get("uri"),
            reason=str(doc.get("reason", "")),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise LedgerError(f"ledger {path}, line {number} is corrupt: {exc!r}") from exc
