"""Scheduled jobs in PostgreSQL: they survive restarts, and one of two runners runs them."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import SecretStr
from sqlalchemy import Engine

from arena.config import DatabaseSettings
from arena.errors import ArenaError
from arena.schedules import ScheduleBook, ScheduleRunner
from storage.db import make_engine

KEY = SecretStr("the deployment's signing key, for tests")


@pytest.fixture
def engine(empty_db: DatabaseSettings) -> Iterator[Engine]:
    engine = make_engine(empty_db)
    yield engine
    book = ScheduleBook(engine, key=KEY)
    for schedule in book.list():
        book.remove(schedule.name)
    engine.dispose()


def _wait(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_the_cli_side_adds_lists_and_removes_jobs_that_survive_a_new_engine(
    engine: Engine, empty_db: DatabaseSettings
) -> None:
    book = ScheduleBook(engine, key=KEY)
    book.add_cron("nightly-retrain", "retrain", "0 3 * * *")
    book.add_cron("hourly-eval", "evaluate", "0 * * * *")
    with pytest.raises(ArenaError, match="exists"):
        book.add_cron("nightly-retrain", "evaluate", "0 4 * * *")
    with pytest.raises(ArenaError, match="bad cron"):
        book.add_cron("broken", "retrain", "every night")

    reopened = ScheduleBook(make_engine(empty_db), key=KEY)  # another process, later
    listed = {s.name: s for s in reopened.list()}
    assert set(listed) == {"nightly-retrain", "hourly-eval"}
    assert listed["nightly-retrain"].kind == "retrain"
    assert listed["hourly-eval"].kind == "evaluate"
    nightly = listed["nightly-retrain"].next_run
    assert nightly is not None and (nightly.hour, nightly.minute) == (3, 0)
    assert reopened.remove("hourly-eval").kind == "evaluate"
    assert [s.name for s in reopened.list()] == ["nightly-retrain"]


def test_two_runners_run_each_job_once_and_the_second_takes_over(engine: Engine) -> None:
    runs: list[tuple[str, str, float]] = []
    lock = threading.Lock()

    def handler(runner: str) -> Callable[[str], None]:
        def run(name: str) -> None:
            with lock:
                runs.append((runner, name, time.monotonic()))

        return run

    a = ScheduleRunner(engine, "trainer", {"retrain": handler("a")}, check_s=0.2, key=KEY)
    b = ScheduleRunner(engine, "trainer", {"retrain": handler("b")}, check_s=0.2, key=KEY)
    a.start()
    _wait(lambda: a.is_leader)
    b.start()
    try:
        ScheduleBook(engine, key=KEY).add("often", "retrain", IntervalTrigger(seconds=1))
        _wait(lambda: len(runs) >= 4)
        assert not b.is_leader
        assert {r[0] for r in runs} == {"a"}
        gaps = [later[2] - earlier[2] for earlier, later in itertools.pairwise(runs)]
        assert min(gaps) > 0.5, f"a job ran twice for one fire: {gaps}"

        a.stop()  # the leader goes away: its lock is released with its connection
        _wait(lambda: any(r[0] == "b" for r in runs))
        assert b.is_leader
    finally:
        a.stop()
        b.stop()


def test_arena_schedule_add_list_remove(
    engine: Engine, empty_db: DatabaseSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from arena.cli.main import app, register_commands

    register_commands()
    monkeypatch.setenv("ARENA_DB_NAME", empty_db.name)
    cli = CliRunner()
    added = cli.invoke(
        app, ["schedule", "add", "nightly-retrain", "--cron", "0 3 * * *", "--job", "retrain"]
    )
    assert added.exit_code == 0, added.output
    assert "retrain (trainer)" in added.output
    listed = cli.invoke(app, ["schedule", "list"])
    assert "nightly-retrain" in listed.output and "trainer" in listed.output
    assert cli.invoke(app, ["schedule", "remove", "nightly-retrain"]).exit_code == 0
    assert ScheduleBook(engine, key=KEY).list() == []


def test_a_job_written_without_the_key_is_refused_never_unpickled(engine: Engine) -> None:
    # An attacker with a database login writes a job whose pickle would run their code.
    import pickle

    from sqlalchemy import text

    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("the attacker's code ran",))

    ScheduleBook(engine, key=KEY).add("honest", "retrain", IntervalTrigger(hours=1))
    forged = b"\0" * 32 + pickle.dumps(Boom())
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO arena_schedules_trainer (id, next_run_time, job_state) "
                "VALUES ('forged', 0, :state)"
            ),
            {"state": forged},
        )
    ran: list[object] = []
    import builtins

    original = builtins.print
    builtins.print = lambda *a, **k: ran.append(a)  # type: ignore[assignment]
    try:
        names = [s.name for s in ScheduleBook(engine, key=KEY).list()]
    finally:
        builtins.print = original
    assert names == ["honest"] and ran == []
    # A deployment started with another key runs nothing, and deletes nothing either.
    assert ScheduleBook(engine, key=SecretStr("another deployment's key")).list() == []
    assert [s.name for s in ScheduleBook(engine, key=KEY).list()] == ["honest"]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM arena_schedules_trainer WHERE id = 'forged'"))
