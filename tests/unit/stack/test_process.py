"""Finding a server from its pid file: a pid the kernel reused, or a thread's id, is stale."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from arena.stack.process import ManagedProcess


def managed(tmp_path: Path) -> ManagedProcess:
    return ManagedProcess("sleeper", tmp_path / "s.pid", tmp_path / "s.log")


def test_a_started_process_is_found_and_stopped(tmp_path: Path) -> None:
    process = managed(tmp_path)
    sleep = shutil.which("sleep")
    assert sleep is not None
    pid = process.start([sleep, "30"])

    assert process.pid() == pid
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


def test_a_pid_reused_by_another_program_is_stale(tmp_path: Path) -> None:
    process = managed(tmp_path)
    process.pid_path.write_text(f"{os.getpid()}\n/usr/local/bin/minio\n")

    assert process.pid() is None
