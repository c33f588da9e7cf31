from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from arena.bus.stop import FORCED_EXIT_CODE, StopFlag


def test_sigterm_sets_the_flag_and_the_old_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopFlag(exit_deadline_s=None) as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5.0)
    assert signal.getsignal(signal.SIGTERM) is before


def test_outside_the_main_thread_it_installs_nothing_but_still_works() -> None:
    before = signal.getsignal(signal.SIGINT)
    seen: list[bool] = []

    def use_flag() -> None:
        with StopFlag() as stop:
            stop.set()
            seen.append(stop.is_set())

    worker = threading.Thread(target=use_flag)
    worker.start()
    worker.join(5.0)
    assert seen == [True]
    assert signal.getsignal(signal.SIGINT) is before


CHILD = """
import sys, threading, time
from confluent_kafka import Producer
from arena.bus.stop import FORCED_EXIT_CODE, StopFlag

with StopFlag(exit_deadline_s=2.0) as stop:
    def report():
        stop.wait(30)
        print("flag", time.monotonic(), flush=True)
    threading.Thread(target=report, daemon=True).start()
    producer = Producer({"bootstrap.servers": "127.0.0.1:1", "transactional.id": "t"})
    print("blocking", time.monotonic(), flush=True)
    try:
        producer.init_transactions(20)  # blocks in C, where Python signal handlers cannot run
    except Exception:
        pass
    print("returned", flush=True)
"""


def test_a_signal_sets_the_flag_while_the_main_thread_is_blocked_and_the_watchdog_ends_it() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith("blocking"), line
    time.sleep(0.3)  # let it enter the call
    sent = time.monotonic()
    child.send_signal(signal.SIGTERM)
    flag_line = child.stdout.readline()
    code = child.wait(15)
    ended = time.monotonic()
    rest = child.stdout.read()

    assert flag_line.startswith("flag"), flag_line
    assert float(flag_line.split()[1]) - sent < 1.0  # set at once, not when the call returns
    assert code == FORCED_EXIT_CODE
    assert ended - sent < 5.0  # the watchdog's 2 s, not the call's 20 s
    assert "returned" not in rest


WEDGED_CHILD = """
import ctypes, time
from arena.bus.stop import StopFlag

with StopFlag() as stop:
    print("ready", flush=True)
    while not stop.wait(0.05):
        pass
    print("stopping", flush=True)
    # A native call that blocks while holding the interpreter lock (ctypes.PyDLL keeps it):
    # no Python thread, the watchdog included, can run any more.
    ctypes.PyDLL(None).sleep(60)
    print("returned", flush=True)
"""


def test_a_process_wedged_holding_the_interpreter_lock_still_ends_within_10_s() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", WEDGED_CHILD],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert child.stdout is not None
    assert child.stdout.readline().startswith("ready")
    sent = time.monotonic()
    child.send_signal(signal.SIGTERM)
    assert child.stdout.readline().startswith("stopping")
    code = child.wait(20)
    took = time.monotonic() - sent

    assert code == -signal.SIGALRM  # the kernel's timer, not the Python watchdog
    assert took < 10.0
    assert "returned" not in child.stdout.read()
