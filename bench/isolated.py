"""One benchmark run in a process of its own, with a deadline and one retry.

The learning benchmark runs the demo's fleet in-process, as threads. librdkafka can hang in
a consumer's close, inside a rebalance callback that confluent-kafka calls while holding
Python's interpreter lock (librdkafka issue 4884): then no thread of that process runs
again, and no timeout written in Python can end it. A run in a child process can be killed
from outside: this parent gives it a deadline, kills it when it passes, and runs it once
more. Each demo run has topics and groups of its own, so a killed run leaves nothing the
next one reads.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

ATTEMPTS = 2


class RunWedged(RuntimeError):
    """Every attempt of a run passed its deadline."""


def _child(conn: Connection, fn: Callable[..., dict[str, Any]], args: tuple[Any, ...]) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


def run_isolated(
    fn: Callable[..., dict[str, Any]], args: tuple[Any, ...], deadline_s: float, what: str
) -> dict[str, Any]:
    """``fn(*args)`` in a spawned child (``fn`` and ``args`` must pickle), killed after
    ``deadline_s`` and tried again once. A failure inside the run is raised here."""
    ctx = multiprocessing.get_context("spawn")
    for attempt in range(1, ATTEMPTS + 1):
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child, args=(send, fn, args), name=f"run {what}")
        child.start()
        send.close()
        try:
            if receive.poll(deadline_s):
                status, value = receive.recv()
                child.join(30.0)
                if status == "error":
                    raise RuntimeError(f"{what} failed: {value}")
                return dict(value)
        except EOFError:
            child.join(30.0)
            raise RuntimeError(f"{what}: the run's process died (exit {child.exitcode})") from None
        finally:
            receive.close()
            if child.is_alive():
                child.kill()
                child.join(10.0)
        log.error(
            "%s: no result within %.0f s (attempt %d of %d); killed",
            what,
            deadline_s,
            attempt,
            ATTEMPTS,
        )
    raise RunWedged(f"{what}: no result within {deadline_s:.0f} s in {ATTEMPTS} attempts")
