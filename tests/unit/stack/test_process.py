"""Finding a server from its pid file: a pid the kernel reused, or a thread's id, is stale."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from arena.stack.process import ManagedProcess, start_ticks


def managed(tmp_path: Path) -> ManagedProcess:
    return ManagedProcess("sleeper", tmp_path / "s.pid", tmp_path / "s.log")


def test_a_started_process_is_found_and_stopped(tmp_path: Path) -> None:
    process = managed(tmp_path)
    sleep = shutil.which("sleep")
    assert sleep is not None
    pid = process.start([sleep, "30"])

    assert process.pid() == pid, _proc_facts(pid)
    assert process.stop(timeout_s=5.0)
    assert process.pid() is None


def test_a_thread_id_in_another_process_is_not_our_server(tmp_path: Path) -> None:
    process = managed(tmp_path)
    ready, done = threading.Event(), threading.Event()
    tid: list[int] = []

    def park() -> None:
        tid.append(threading.get_native_id())
        ready.set()
        done.wait(10)

    worker = threading.Thread(target=park)
    worker.start()
    ready.wait(5)
    try:
        assert tid[0] != os.getpid()
        process.pid_path.write_text(str(tid[0]))  # kill(tid, 0) succeeds for a thread

        assert process.pid() is None
        assert not process.pid_path.exists()  # the stale file is gone
    finally:
        done.set()
        worker.join(5)


def test_a_pid_reused_by_another_process_is_stale(tmp_path: Path) -> None:
    process = managed(tmp_path)
    ours = start_ticks(os.getpid())
    assert ours is not None
    process.pid_path.write_text(f"{os.getpid()}\n{ours - 1}\n")  # same pid, an older process

    assert process.pid() is None
    assert not process.pid_path.exists()


def test_a_pid_file_of_an_older_arena_is_read(tmp_path: Path) -> None:
    """Older pid files record the program started; another program under that pid is stale."""
    process = managed(tmp_path)
    argv0 = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    process.pid_path.write_text(f"{os.getpid()}\n{argv0}\n")
    assert process.pid() == os.getpid()

    process.pid_path.write_text(f"{os.getpid()}\n/usr/local/bin/minio\n")
    assert process.pid() is None


def _proc_facts(pid: int) -> str:
    """What /proc says of ``pid``, for a failure message."""
    facts = []
    for name in ("status", "cmdline", "stat"):
        try:
            facts.append(f"{name}: {Path(f'/proc/{pid}/{name}').read_bytes()[:400]!r}")
        except OSError as exc:
            facts.append(f"{name}: {exc}")
    return "\n".join(facts)
