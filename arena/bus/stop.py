"""A stop flag that SIGTERM and SIGINT set, so a service loop finishes its batch and exits."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterable
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)


class StopFlag:
    """Set by SIGTERM/SIGINT (once installed) or by ``set()``; a loop checks ``is_set()``.

    Use it as a context manager: the handlers are installed on entry and the previous ones
    restored on exit. Python only lets the main thread install signal handlers, so elsewhere
    the flag works but only ``set()`` sets it.
    """

    def __init__(self, signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)):
        self._event = threading.Event()
        self._signals = tuple(signals)
        self._previous: dict[signal.Signals, Any] = {}

    def install(self) -> StopFlag:
        if threading.current_thread() is not threading.main_thread():
            logger.debug("not the main thread: signal handlers not installed")
            return self
        for sig in self._signals:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def close(self) -> None:
        """Restore the handlers that were there before ``install``."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("received %s: stopping after the current batch", signal.Signals(signum).name)
        self._event.set()

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
