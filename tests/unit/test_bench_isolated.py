"""A benchmark run in its own process: its result comes back, its failure is raised, and a
run that hangs where no Python code can run is killed at its deadline and tried again."""

from __future__ import annotations

import ctypes
import time
from pathlib import Path
from typing import Any

import pytest

from bench.isolated import ATTEMPTS, RunWedged, run_isolated


def answer(x: int) -> dict[str, Any]:
    return {"x": x * 2}


def fail() -> dict[str, Any]:
    raise ValueError("the stream broke")


def wedge(marker: str) -> dict[str, Any]:
    with Path(marker).open("a") as f:
        f.write("attempt\n")
    ctypes.PyDLL(None).sleep(60)  # blocks holding the interpreter lock, as the hang did
    return {}


def test_the_result_comes_back_from_the_child() -> None:
    assert run_isolated(answer, (21,), 60.0, "answer") == {"x": 42}


def test_a_failure_in_the_run_is_raised_with_its_reason() -> None:
    with pytest.raises(RuntimeError, match="ValueError: the stream broke"):
        run_isolated(fail, (), 60.0, "fail")


def test_a_wedged_run_is_killed_at_its_deadline_and_tried_again(tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    started = time.monotonic()

    with pytest.raises(RunWedged, match="no result within 3 s in 2 attempts"):
        run_isolated(wedge, (str(marker),), 3.0, "wedge")

    assert marker.read_text().count("attempt") == ATTEMPTS
    assert time.monotonic() - started < 30.0
