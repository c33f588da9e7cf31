"""Find the image files of a folder that have finished being written.

A file is settled when its mtime is at least ``settle_s`` old and, after the first scan, it
was seen unchanged (same size and mtime) by the previous scan. The first scan trusts the
settle time alone, so files already there at start-up (and a one-shot scan) need no wait.
Hidden files and everything under hidden folders are ignored.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from arena.ingest.ledger import FileVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FileState:
    """One image file as a scan saw it; ``rel`` is its POSIX path relative to the root."""

    path: Path
    rel: str
    size: int
    mtime_ns: int

    @property
    def version(self) -> FileVersion:
        return (self.rel, self.size, self.mtime_ns)


class DirectoryScanner:
    """Scans ``root`` recursively and remembers the previous scan to tell settled files."""

    def __init__(self, root: Path, extensions: Iterable[str], settle_s: float) -> None:
        self.root = root
        self._extensions = frozenset(e.lower() for e in extensions)
        self._settle_ns = int(settle_s * 1e9)
        self._previous: dict[str, FileState] | None = None
        self._reported: set[str] = set()
        self.unsettled = 0  # image files the last ``settled`` call found still changing

    def settled(self, now_ns: int) -> list[FileState]:
        """The settled image files, oldest mtime first (then by path)."""
        current = {f.rel: f for f in self.scan()}
        previous, self._previous = self._previous, current
        ready = [
            f
            for f in current.values()
            if now_ns - f.mtime_ns >= self._settle_ns
            and (previous is None or _unchanged(previous.get(f.rel), f))
        ]
        self.unsettled = len(current) - len(ready)
        return sorted(ready, key=lambda f: (f.mtime_ns, f.rel))

    def scan(self) -> list[FileState]:
        """Every visible image file under the root, as it is now."""
        if not self.root.is_dir():
            raise NotADirectoryError(f"{self.root} is not a directory")
        found = []
        for folder, dirs, files in os.walk(self.root, onerror=self._report_once):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if (
                    name.startswith(".")
                    or os.path.splitext(name)[1].lower() not in self._extensions
                ):
                    continue
                path = Path(folder, name)
                try:
                    st = path.lstat()  # a symlink is never followed: it could point anywhere
                except FileNotFoundError:
                    continue  # removed since it was listed: nothing to publish
                except OSError as exc:
                    self._report_once(exc)
                    continue
                if stat.S_ISLNK(st.st_mode):
                    self._report_once(OSError(f"skipped: {path} is a symbolic link"))
                elif stat.S_ISREG(st.st_mode):
                    rel = path.relative_to(self.root).as_posix()
                    found.append(FileState(path, rel, st.st_size, st.st_mtime_ns))
        return found

    def _report_once(self, exc: OSError) -> None:
        # Scans repeat every second: say it once per path, not once per scan.
        key = str(exc.filename)
        if key not in self._reported:
            self._reported.add(key)
            log.warning("cannot scan %s: %s", key, exc)


def _unchanged(before: FileState | None, now: FileState) -> bool:
    return before is not None and (before.size, before.mtime_ns) == (now.size, now.mtime_ns)
