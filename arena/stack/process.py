"""Starting, finding and stopping the stack's server processes (pid files, logs, readiness)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from arena.errors import StackError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ManagedProcess:
    """A server process started in its own session, with its pid in ``pid_path``."""

    name: str
    pid_path: Path
    log_path: Path

    def pid(self) -> int | None:
        """The pid of the running process, or None (a stale pid file is removed).

        The file holds the pid and the kernel's start time of that process; a pid the kernel
        has since given to another process, or that is now a thread's id in another process,
        is stale. (An older file holds the program started instead of the start time.)
        """
        try:
            pid_line, *rest = self.pid_path.read_text().splitlines()
            pid = int(pid_line.strip())
        except (FileNotFoundError, ValueError):
            return None
        if process_alive(pid) and _same_process(pid, rest[0].strip() if rest else None):
            return pid
        self.pid_path.unlink(missing_ok=True)
        return None

    def start(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> int:
        """Start the server unless it already runs; return its pid."""
        running = self.pid()
        if running is not None:
            return running
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            proc = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        started = start_ticks(proc.pid)
        self.pid_path.write_text(f"{proc.pid}\n{'' if started is None else started}\n")
        log.info("started %s (pid %d), log: %s", self.name, proc.pid, self.log_path)
        return proc.pid

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM, wait, then SIGKILL. Returns whether a process was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(0.1)
        if process_alive(pid):
            log.warning("%s did not stop within %.0f s; killing it", self.name, timeout_s)
            os.killpg(pid, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 30) -> str:
        return tail_file(self.log_path, lines)


def tail_file(path: Path, lines: int = 30) -> str:
    """The last lines of a server log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (not a zombie, not a thread of another one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # kill(0) also answers for a thread id of another process (seen: a stale MinIO pid that
    # had become a thread of a Kafka JVM), and for a zombie child; neither is our server.
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields.get("Tgid", "").strip() == str(pid) and not fields.get(
        "State", ""
    ).strip().startswith("Z")


def start_ticks(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (None: no such process).

    A pid and its start time name one process for as long as the machine runs: a reused pid
    or a thread's id has another start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Field 2, the command, is in parentheses and may hold spaces; field 22 is the start time.
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _same_process(pid: int, recorded: str | None) -> bool:
    """Whether running process ``pid`` is the one the pid file recorded."""
    if not recorded:
        return True  # a pid file with the pid alone (written by hand, or by an older arena)
    if recorded.isdigit():
        return start_ticks(pid) == int(recorded)
    # An older arena recorded the program it started: compare it with the first argument.
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    except (FileNotFoundError, UnicodeDecodeError):
        return False
    return argv0 == recorded


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout_s: float,
    on_timeout: Callable[[], str] = lambda: "",
) -> float:
    """Poll ``check`` until it returns True; return the seconds it took or raise StackError."""
    start = time.monotonic()
    last_error: Exception | None = None
    while time.monotonic() - start < timeout_s:
        try:
            if check():
                return time.monotonic() - start
        except Exception as exc:
            last_error = exc
        time.sleep(0.25)
    detail = f" (last error: {last_error})" if last_error else ""
    raise StackError(f"{what} not ready after {timeout_s:.0f} s{detail}\n{on_timeout()}")


def run_checked(
    argv: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float | None = None,
) -> str:
    """Run a set-up command; raise StackError with its output when it fails."""
    proc = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout_s,
        check=False,
    )
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip()[-3000:]
        raise StackError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{out}")
    return proc.stdout
