"""Engine and session construction for the registry database."""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from arena.config import DatabaseSettings

T_co = TypeVar("T_co", covariant=True)


class ToDomain(Protocol[T_co]):
    """An ORM row that turns into its domain object."""

    def to_domain(self) -> T_co: ...


def make_engine(db: DatabaseSettings, *, pool_size: int = 5) -> Engine:
    """An engine for ``db`` that checks connections before use (the database may restart)."""
    return create_engine(db.url, pool_size=pool_size, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit, so rows can become domain objects."""
    return sessionmaker(engine, expire_on_commit=False)


def append(sessions: sessionmaker[Session], row: ToDomain[T_co]) -> T_co:
    """Insert ``row`` in its own transaction; return it as a domain object, with the
    columns the database filled in (id, time)."""
    with sessions.begin() as session:
        session.add(row)
        session.flush()
        session.refresh(row)
        return row.to_domain()
