"""Scheduled work: named cron jobs kept in PostgreSQL (APScheduler's SQLAlchemy job store).

A job's kind says which service runs it: ``retrain`` (the trainer fine-tunes from its replay
buffer now) and ``evaluate`` (the evaluator runs a round now). Each owning service keeps its
jobs in a table of its own (``arena_schedules_trainer``, ``arena_schedules_evaluator``), so
a trainer's scheduler never picks up an evaluation it cannot run.

Who writes, who runs:
- ``ScheduleBook`` (``arena schedule add|list|remove``) only writes the job store;
- ``ScheduleRunner`` runs inside the owning service, whose state (replay buffer, window) the
  job acts on. It runs jobs only while it holds the service's PostgreSQL advisory lock, so
  with two trainers up exactly one runs each job (APScheduler 3 does not share a job store
  between schedulers by itself); the other takes over when the holder's connection ends.

Stored jobs are signed with the deployment's signing key (``arena.signed_jobs``): a job
someone wrote into the table without the key is refused, never unpickled.

A job calls ``fire(kind, name)`` by reference (the job store keeps only the reference, so a
restart keeps every job); it runs on a worker thread of one runner, which tells it what the
kind does there.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from pydantic import SecretStr
from sqlalchemy import Connection, Engine, text

from arena.errors import ArenaError
from arena.signed_jobs import SignedJobStore

log = logging.getLogger(__name__)

JOB_OWNERS: dict[str, str] = {"retrain": "trainer", "evaluate": "evaluator"}
"""Job kind -> the service that runs it."""

DEFAULT_MISFIRE_GRACE_S = 600

JobHandler = Callable[[str], None]
"""What a job kind does in this process, given the job's name."""

_worker = threading.local()  # a runner's worker threads carry its handlers


def job_table(service: str) -> str:
    """The job store table of ``service``."""
    return f"arena_schedules_{service}"


def fire(kind: str, name: str) -> None:
    """Run job ``name`` of ``kind`` here: what scheduled jobs call (kept by reference)."""
    handlers: Mapping[str, JobHandler] = getattr(_worker, "handlers", {})
    handler = handlers.get(kind)
    if handler is None:
        log.warning("scheduled %s job %r fired, but nothing here runs %s jobs", kind, name, kind)
        return
    log.info("scheduled job %r: %s", name, kind)
    handler(name)


@dataclass(frozen=True, slots=True)
class Schedule:
    """One scheduled job as the CLI shows it."""

    name: str
    kind: str
    trigger: str
    next_run: datetime | None


def _scheduler(
    engine: Engine, service: str, key: bytes, handlers: Mapping[str, JobHandler] | None = None
) -> BackgroundScheduler:
    def on_worker_start() -> None:
        _worker.handlers = handlers or {}

    store = SignedJobStore(engine=engine, tablename=job_table(service), key=key)
    return BackgroundScheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(1, pool_kwargs={"initializer": on_worker_start})},
        timezone="UTC",
    )


def _to_schedule(service: str, job: object) -> Schedule:
    kind = next(k for k, owner in JOB_OWNERS.items() if owner == service)
    return Schedule(
        str(job.id),  # type: ignore[attr-defined]
        kind,
        str(job.trigger),  # type: ignore[attr-defined]
        job.next_run_time,  # type: ignore[attr-defined]
    )


class ScheduleBook:
    """The job stores seen by operators: add, list and remove jobs; it never runs one."""

    def __init__(self, engine: Engine, *, key: SecretStr) -> None:
        self._engine = engine
        self._job_key = key.get_secret_value().encode()

    @contextmanager
    def _paused(self, service: str) -> Iterator[BackgroundScheduler]:
        # A paused scheduler writes to its job store and never runs a job.
        scheduler = _scheduler(self._engine, service, self._job_key)
        scheduler.start(paused=True)
        try:
            yield scheduler
        finally:
            scheduler.shutdown(wait=False)

    def add(
        self,
        name: str,
        kind: str,
        trigger: BaseTrigger,
        *,
        misfire_grace_s: int = DEFAULT_MISFIRE_GRACE_S,
        replace: bool = False,
    ) -> Schedule:
        """Store job ``name``; a run missed by less than ``misfire_grace_s`` (no service up at
        the time) still happens once when the service comes back."""
        if kind not in JOB_OWNERS:
            raise ArenaError(f"unknown job kind {kind!r}: one of {', '.join(JOB_OWNERS)}")
        existing = self.get(name)
        if existing is not None and not (replace and existing.kind == kind):
            raise ArenaError(f"a schedule named {name!r} exists ({existing.kind})")
        with self._paused(JOB_OWNERS[kind]) as scheduler:
            job = scheduler.add_job(
                "arena.schedules:fire",
                trigger,
                args=[kind, name],
                id=name,
                name=name,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=misfire_grace_s,
            )
            return _to_schedule(JOB_OWNERS[kind], job)

    def add_cron(self, name: str, kind: str, cron: str, timezone: str = "UTC") -> Schedule:
        """Store job ``name`` on a crontab line (``"0 3 * * *"``: 03:00 every day)."""
        try:
            trigger = CronTrigger.from_crontab(cron, timezone=timezone)
        except ValueError as exc:
            raise ArenaError(f"bad cron expression {cron!r}: {exc}") from exc
        return self.add(name, kind, trigger)

    def list(self) -> list[Schedule]:
        """Every job of every service, by name."""
        found: list[Schedule] = []
        for service in sorted(set(JOB_OWNERS.values())):
            with self._paused(service) as scheduler:
                found.extend(_to_schedule(service, job) for job in scheduler.get_jobs())
        return sorted(found, key=lambda s: s.name)

    def get(self, name: str) -> Schedule | None:
        return next((s for s in self.list() if s.name == name), None)

    def remove(self, name: str) -> Schedule:
        """Delete job ``name``; ArenaError when there is none."""
        schedule = self.get(name)
        if schedule is None:
            raise ArenaError(f"no schedule named {name!r}")
        with self._paused(JOB_OWNERS[schedule.kind]) as scheduler:
            scheduler.remove_job(name)
        return schedule


def _lock_key(service: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``service``'s job store."""
    digest = hashlib.sha256(f"arena.schedules.{service}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class ScheduleRunner:
    """Runs ``service``'s scheduled jobs in this process while it holds the job store's lock.

    Args:
        engine: the registry database, where the job store lives.
        service: ``trainer`` or ``evaluator``.
        handlers: job kind -> what it does here.
        check_s: how often leadership is checked (and taken over) and the job store re-read
            for jobs added by ``arena schedule add``.
        key: the deployment's signing key (``ARENA_SIGNING_KEY``): stored jobs are signed.
    """

    def __init__(
        self,
        engine: Engine,
        service: str,
        handlers: Mapping[str, JobHandler],
        check_s: float = 5.0,
        *,
        key: SecretStr,
    ) -> None:
        self._engine = engine
        self._service = service
        self._handlers = dict(handlers)
        self._check_s = check_s
        self._key = _lock_key(service)
        self._scheduler = _scheduler(
            engine, service, key.get_secret_value().encode(), self._handlers
        )
        self._conn: Connection | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{service}-schedules", daemon=True)

    @property
    def is_leader(self) -> bool:
        """Whether this runner holds the lock, so runs the jobs."""
        return self._conn is not None

    def start(self) -> None:
        self._scheduler.start(paused=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop running jobs and release the lock (the other service instance takes over)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self._check_s + 5)
        self._release()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._check_leadership()
            except Exception as exc:
                log.warning("%s schedules: lost the job store (%s); retrying", self._service, exc)
                self._release()
            self._stop.wait(self._check_s)

    def _check_leadership(self) -> None:
        if self._conn is not None:
            self._conn.execute(text("SELECT 1"))  # the lock lives as long as this connection
            self._scheduler.wakeup()  # see jobs added meanwhile by `arena schedule add`
            return
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        held = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
        if not held:
            conn.close()
            return
        self._conn = conn
        log.info("%s schedules: this process runs them now", self._service)
        self._scheduler.resume()

    def _release(self) -> None:
        if self._scheduler.running:
            self._scheduler.pause()
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        except Exception as exc:  # the connection is gone, and the lock with it
            log.debug("advisory unlock failed: %s", exc)
        finally:
            conn.invalidate()
            conn.close()
