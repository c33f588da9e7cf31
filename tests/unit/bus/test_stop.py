from __future__ import annotations

import os
import signal
import threading

from arena.bus.stop import StopFlag


def test_sigterm_sets_the_flag_and_the_old_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopFlag() as stop:
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
