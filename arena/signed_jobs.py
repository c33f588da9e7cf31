"""APScheduler's SQLAlchemy job store, with every stored job signed.

The store keeps each job as a pickle, and unpickling runs whatever the bytes say. Anyone
who can write the job table (a leaked database credential) could otherwise make the trainer
or the evaluator run their code. So each ``job_state`` is ``HMAC-SHA256(key, table, pickle)
|| pickle``, written with the deployment's signing key (``ARENA_SIGNING_KEY``, which never
lives in PostgreSQL), and a job whose MAC does not verify is refused before one byte is
unpickled. It is logged and skipped, and left in the table for an operator to inspect
(a deployment started with the wrong key must not delete every job); other jobs that fail
to load are removed, as APScheduler does.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
from typing import Any

from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import Engine, and_, select
from sqlalchemy.exc import IntegrityError

from arena.errors import ArtifactIntegrityError

MAC_BYTES = 32
log = logging.getLogger(__name__)


class UnsignedJob(ArtifactIntegrityError):
    """A stored job whose signature does not verify: refused, never unpickled."""


class SignedJobStore(SQLAlchemyJobStore):  # type: ignore[misc]  # untyped base
    def __init__(self, *, engine: Engine, tablename: str, key: bytes) -> None:
        if not key:
            raise ValueError("the job store needs a signing key")
        super().__init__(engine=engine, tablename=tablename)
        self._mac_key = key
        self._table = tablename.encode()

    def _mac(self, state: bytes) -> bytes:
        return hmac.new(self._mac_key, self._table + b"\0" + state, hashlib.sha256).digest()

    def _sealed(self, job: Any) -> bytes:
        state = pickle.dumps(job.__getstate__(), self.pickle_protocol)
        return self._mac(state) + state

    def add_job(self, job: Any) -> None:
        insert = self.jobs_t.insert().values(
            id=job.id,
            next_run_time=datetime_to_utc_timestamp(job.next_run_time),
            job_state=self._sealed(job),
        )
        with self.engine.begin() as connection:
            try:
                connection.execute(insert)
            except IntegrityError:
                raise ConflictingIdError(job.id) from None

    def update_job(self, job: Any) -> None:
        update = (
            self.jobs_t.update()
            .values(
                next_run_time=datetime_to_utc_timestamp(job.next_run_time),
                job_state=self._sealed(job),
            )
            .where(self.jobs_t.c.id == job.id)
        )
        with self.engine.begin() as connection:
            if connection.execute(update).rowcount == 0:
                raise JobLookupError(job.id)

    def _reconstitute_job(self, job_state: bytes) -> Any:
        mac, state = job_state[:MAC_BYTES], job_state[MAC_BYTES:]
        if len(mac) != MAC_BYTES or not hmac.compare_digest(mac, self._mac(state)):
            raise UnsignedJob(
                f"a job in {self._table.decode()} is not signed with this deployment's key: "
                "refused, not unpickled"
            )
        return super()._reconstitute_job(state)

    def _get_jobs(self, *conditions: Any) -> list[Any]:
        jobs, broken = [], set()
        query = select(self.jobs_t.c.id, self.jobs_t.c.job_state).order_by(
            self.jobs_t.c.next_run_time
        )
        query = query.where(and_(*conditions)) if conditions else query
        with self.engine.begin() as connection:
            for row in connection.execute(query):
                try:
                    jobs.append(self._reconstitute_job(row.job_state))
                except UnsignedJob as exc:
                    log.error("job %r skipped: %s", row.id, exc)
                except Exception:
                    log.exception("job %r cannot be restored: removed", row.id)
                    broken.add(row.id)
            if broken:
                connection.execute(self.jobs_t.delete().where(self.jobs_t.c.id.in_(broken)))
        return jobs
