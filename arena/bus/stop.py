"""A stop flag that SIGTERM and SIGINT set, so a service loop finishes its batch and exits.

The flag is set the moment the signal arrives, even while the main thread waits inside a
Kafka call (a watcher thread reads the signal's wakeup byte), so every other thread stops
waiting at once. Once a signal arrived the process has ``exit_deadline_s`` to end: every
blocking call is bounded so that a service ends well within it, and should one not, a
watchdog ends the process (logged, exit code 70) rather than let a SIGTERM be ignored.

That watchdog is a Python thread, so it needs the interpreter lock; a native call that
blocks while holding it (seen once: librdkafka's consumer close, waiting inside a rebalance
callback) would keep it from running. So the signal also arms a kernel timer: SIGALRM, left
to its default action, ends the process ``KERNEL_BACKSTOP_S`` after the signal whatever its
threads do (exit by signal 14).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterable
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)

EXIT_DEADLINE_S = 9.5  # SIGTERM ends a service within 10 s, whatever state it is in
FORCED_EXIT_CODE = 70  # EX_SOFTWARE: the watchdog had to end the process
KERNEL_BACKSTOP_S = 9.8  # SIGALRM's default action ends the process, if the watchdog cannot


class StopFlag:
    """Set by SIGTERM/SIGINT (once installed) or by ``set()``; a loop checks ``is_set()``.

    Use it as a context manager: the handlers are installed on entry and the previous ones
    restored on exit. Python only lets the main thread install signal handlers, so elsewhere
    the flag works but only ``set()`` sets it. ``exit_deadline_s=None`` disables the watchdog.
    """

    def __init__(
        self,
        signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
        *,
        exit_deadline_s: float | None = EXIT_DEADLINE_S,
    ):
        self._event = threading.Event()
        self._signals = tuple(signals)
        self._exit_deadline_s = exit_deadline_s
        self._previous: dict[signal.Signals, Any] = {}
        self._previous_wakeup_fd = -1
        self._pipe: tuple[int, int] | None = None
        self._watchdog: threading.Timer | None = None

    def install(self) -> StopFlag:
        if self._previous:
            return self  # already installed (``with StopFlag().install() as stop``)
        if threading.current_thread() is not threading.main_thread():
            logger.debug("not the main thread: signal handlers not installed")
            return self
        for sig in self._signals:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        if self._exit_deadline_s is not None:  # the kernel backstop: SIGALRM must kill
            self._previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, signal.SIG_DFL)
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        self._pipe = (read_fd, write_fd)
        self._previous_wakeup_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        threading.Thread(
            target=self._watch, args=(read_fd,), name="stop-signals", daemon=True
        ).start()
        return self

    def close(self) -> None:
        """Restore the handlers that were there before ``install`` (an armed watchdog stays:
        the process still has to end in time)."""
        if self._pipe is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
            write_fd = self._pipe[1]
            self._pipe = None
            with contextlib.suppress(OSError):
                os.write(write_fd, b"\0")  # wakes the watcher, which then closes its end
            os.close(write_fd)
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _watch(self, read_fd: int) -> None:
        """Set the flag as soon as a stop signal's wakeup byte arrives, whatever the main
        thread is blocked in (its Python handler only runs once that call returns)."""
        try:
            while True:
                data = os.read(read_fd, 64)
                if not data or b"\0" in data:
                    return
                for signum in data:
                    if signum in self._signals:
                        self._stop_on(signal.Signals(signum))
        finally:
            with contextlib.suppress(OSError):
                os.close(read_fd)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop_on(signal.Signals(signum))

    def _stop_on(self, sig: signal.Signals) -> None:
        if not self._event.is_set():
            logger.info("received %s: stopping after the current batch", sig.name)
        self.set()
        if self._exit_deadline_s is not None and self._watchdog is None:
            self._watchdog = threading.Timer(self._exit_deadline_s, self._force_exit)
            self._watchdog.daemon = True
            self._watchdog.start()
            if signal.SIGALRM in self._previous:  # installed here, SIGALRM left to the kernel
                backstop = max(KERNEL_BACKSTOP_S, self._exit_deadline_s + 0.3)
                signal.setitimer(signal.ITIMER_REAL, backstop)

    def _force_exit(self) -> None:
        logger.critical(
            "still running %.1fs after the stop signal: exiting now (code %d)",
            self._exit_deadline_s,
            FORCED_EXIT_CODE,
        )
        logging.shutdown()
        os._exit(FORCED_EXIT_CODE)

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s``, waking early when stopped; return whether it is set."""
        return self._event.wait(timeout_s)

    def __enter__(self) -> StopFlag:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
