"""Which exceptions mean "a server is unreachable right now" (retry with back-off) rather
than a bug or bad data.

One classifier for every service: PostgreSQL (SQLAlchemy/psycopg connection failures), the
object store (connection errors, timeouts, HTTP 5xx) and the operating system's socket
errors. Anything it does not recognise is not an outage, and keeps its own fate.
"""

from __future__ import annotations

import psycopg
import sqlalchemy.exc
import urllib3.exceptions
from minio.error import S3Error, ServerError

from arena.errors import InfrastructureUnavailable

_NETWORK = (
    ConnectionError,  # refused, reset, aborted (OSError subclasses)
    TimeoutError,
    urllib3.exceptions.MaxRetryError,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.TimeoutError,
)


def outage_cause(exc: BaseException) -> str | None:
    """A short cause when ``exc`` (or what it was raised from) is an outage, else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        cause = _direct_cause(current)
        if cause is not None:
            return cause
        current = current.__cause__ or current.__context__
    return None


def _direct_cause(exc: BaseException) -> str | None:
    if isinstance(exc, InfrastructureUnavailable):
        return _first_line(exc)
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, sqlalchemy.exc.OperationalError)
    ):
        return f"postgresql: {_first_line(exc.orig)}"
    if isinstance(exc, sqlalchemy.exc.InterfaceError | sqlalchemy.exc.DisconnectionError):
        return f"postgresql: {_first_line(exc)}"
    if isinstance(exc, psycopg.OperationalError):
        return f"postgresql: {_first_line(exc)}"
    if isinstance(exc, ServerError) or (
        isinstance(exc, S3Error) and exc.response is not None and exc.response.status >= 500
    ):
        return f"object store: {_first_line(exc)}"
    if isinstance(exc, _NETWORK):
        return f"network: {_first_line(exc)}"
    return None


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:200]
