"""Engine and session construction for the registry database."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from arena.config import DatabaseSettings


def make_engine(db: DatabaseSettings, *, pool_size: int = 5) -> Engine:
    """An engine for ``db`` that checks connections before use (the database may restart)."""
    return create_engine(db.url, pool_size=pool_size, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit, so rows can become domain objects."""
    return sessionmaker(engine, expire_on_commit=False)
