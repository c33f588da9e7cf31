"""Outages are told apart from bugs and bad data, by what the real clients raise."""

from __future__ import annotations

import socket

import sqlalchemy as sa
import urllib3
from minio import Minio

from arena.errors import InfrastructureUnavailable, InvalidEvent
from arena.outages import outage_cause


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raised(call: object) -> BaseException:
    try:
        call()  # type: ignore[operator]
    except Exception as exc:
        return exc
    raise AssertionError("expected an exception")


def test_postgresql_unreachable_is_an_outage() -> None:
    engine = sa.create_engine(f"postgresql+psycopg://u:p@127.0.0.1:{_closed_port()}/db")
    cause = outage_cause(_raised(engine.connect))
    assert cause is not None and cause.startswith("postgresql:")


def test_object_store_unreachable_is_an_outage() -> None:
    http = urllib3.PoolManager(retries=urllib3.Retry(total=0), timeout=1)
    client = Minio(f"127.0.0.1:{_closed_port()}", "a", "b", secure=False, http_client=http)
    assert outage_cause(_raised(lambda: client.bucket_exists("arena-models"))) is not None


def test_an_outage_wrapped_in_another_error_is_found() -> None:
    try:
        try:
            raise ConnectionRefusedError("refused")
        except ConnectionRefusedError as inner:
            raise RuntimeError("while registering v7") from inner
    except RuntimeError as exc:
        assert outage_cause(exc) == "network: refused"


def test_bugs_and_bad_data_are_not_outages() -> None:
    assert outage_cause(ValueError("invalid bucket name")) is None
    assert outage_cause(InvalidEvent("bad frame")) is None
    assert outage_cause(KeyError("x")) is None


def test_the_explicit_error_is_an_outage() -> None:
    assert outage_cause(InfrastructureUnavailable("object store: 503")) == "object store: 503"
