"""Named crash points, for fault-injection tests of multi-step operations.

``ARENA_CRASH_AT=<point>`` makes the process die at that point as a kill -9 would (no
clean-up, no flush), so a test can prove that a restart reconciles what was half done.
Unset (always, in production) it costs one environment lookup.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

CRASH_ENV = "ARENA_CRASH_AT"
CRASH_EXIT_CODE = 137


def crash_point(name: str) -> None:
    """Die here, at once, if ``ARENA_CRASH_AT`` names this point."""
    if os.environ.get(CRASH_ENV) == name:
        log.critical("fault injection: crashing at %s", name)
        os._exit(CRASH_EXIT_CODE)
