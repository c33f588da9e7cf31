"""Bounded waits for client calls that take no timeout of their own (a consumer's close)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from arena.errors import BusError

_T = TypeVar("_T")

logger = logging.getLogger(__name__)


def run_bounded(call: Callable[[], object], timeout_s: float, what: str) -> bool:
    """Run ``call`` in a daemon thread and wait at most ``timeout_s``; whether it finished.

    A call that is still blocked (a consumer closing against a dead broker) is abandoned:
    the thread dies with the process, and nothing the caller owns depends on it any more.
    Its exception, if it finishes with one, is logged, never raised: this is for tearing down.
    """
    failure: list[BaseException] = []

    def target() -> None:
        try:
            call()
        except Exception as exc:
            failure.append(exc)

    worker = threading.Thread(target=target, name=f"bounded-{what}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        logger.error("%s did not finish within %.1fs; abandoned", what, timeout_s)
        return False
    if failure:
        logger.warning("%s failed: %r", what, failure[0])
    return True


def call_bounded(call: Callable[[], _T], timeout_s: float, what: str) -> _T:
    """``call()``'s result, or a retriable BusError if it has not returned after ``timeout_s``.

    For calls whose own timeout is the broker's (a synchronous offset commit); the abandoned
    call may still complete later, which for an offset commit is harmless (never ahead of the
    work done).
    """
    outcome: list[_T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=target, name=f"bounded-{what}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise BusError(f"{what} did not finish within {timeout_s:.1f}s", retriable=True)
    if failure:
        raise failure[0]
    return outcome[0]
