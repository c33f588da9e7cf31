"""ArtifactStore reads: an unreachable or failing store is InfrastructureUnavailable (retry);
a missing object is ArtifactNotFound; anything else is the request's own fault (poison)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import pytest
import urllib3
from minio import Minio
from minio.error import S3Error, ServerError
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from arena.config import ObjectStoreSettings
from arena.errors import InfrastructureUnavailable
from storage.artifacts import ArtifactStore
from storage.errors import ArtifactNotFound


@dataclass
class FakeResponse:
    status: int
    body: bytes = b""
    fail_read: Exception | None = None

    def read(self) -> bytes:
        if self.fail_read is not None:
            raise self.fail_read
        return self.body

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class FakeClient:
    """Stands in for ``Minio``: ``get_object`` raises ``error`` or returns ``response``."""

    def __init__(self, error: Exception | None = None, response: FakeResponse | None = None):
        self.error = error
        self.response = response

    def get_object(self, bucket: str, key: str, offset: int = 0, length: int = 0) -> FakeResponse:
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


def s3_error(code: str, status: int) -> S3Error:
    return S3Error(FakeResponse(status), code, "message", "/b/k", "req", "host")  # type: ignore[arg-type]


def store_with(client: object) -> ArtifactStore:
    return ArtifactStore(ObjectStoreSettings(), client=client, fetch_threads=1)  # type: ignore[arg-type]


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on exit: connecting is refused


@pytest.mark.parametrize(
    "error",
    [
        s3_error("InternalError", 500),
        s3_error("ServiceUnavailable", 503),
        s3_error("SlowDown", 503),
        s3_error("RequestTimeout", 400),
        s3_error("InvalidAccessKeyId", 403),
        ServerError("server failed with HTTP status code 502", 502),
        MaxRetryError(None, "/b/k", NewConnectionError(None, "connection refused")),  # type: ignore[arg-type]
        ConnectionRefusedError(111, "Connection refused"),
    ],
    ids=lambda e: type(e).__name__ + ":" + str(getattr(e, "code", "")),
)
def test_a_store_that_fails_on_its_side_is_unavailable(error: Exception) -> None:
    with store_with(FakeClient(error)) as store, pytest.raises(InfrastructureUnavailable) as info:
        store.read_object("bucket", "key")
    assert type(error).__name__ in str(info.value)
    with store_with(FakeClient(error)) as store, pytest.raises(InfrastructureUnavailable):
        store.read_range("bucket", "key", 0, 10)


def test_a_connection_dropped_while_reading_the_body_is_unavailable() -> None:
    response = FakeResponse(200, fail_read=ProtocolError("Connection broken: IncompleteRead"))
    store = store_with(FakeClient(response=response))
    with store, pytest.raises(InfrastructureUnavailable, match="IncompleteRead"):
        store.read_object("bucket", "key")


@pytest.mark.parametrize("code", ["NoSuchKey", "NoSuchBucket"])
def test_a_missing_object_is_not_found(code: str) -> None:
    with store_with(FakeClient(s3_error(code, 404))) as store, pytest.raises(ArtifactNotFound):
        store.read_object("bucket", "key")


@pytest.mark.parametrize("code", ["AccessDenied", "InvalidObjectName", "KeyTooLongError"])
def test_a_request_the_store_refuses_is_not_unavailability(code: str) -> None:
    with store_with(FakeClient(s3_error(code, 403))) as store, pytest.raises(S3Error):
        store.read_object("bucket", "key")


def test_the_real_client_against_a_closed_port_is_unavailable() -> None:
    client = Minio(
        f"127.0.0.1:{refused_port()}",
        access_key="a",
        secret_key="b",
        secure=False,
        http_client=urllib3.PoolManager(retries=urllib3.Retry(total=0)),
    )
    with store_with(client) as store, pytest.raises(InfrastructureUnavailable, match="refused"):
        store.read_object("arena-images", "k")


def test_the_real_client_refuses_an_invalid_bucket_name_as_the_request_s_fault() -> None:
    client = Minio(f"127.0.0.1:{refused_port()}", access_key="a", secret_key="b", secure=False)
    with store_with(client) as store, pytest.raises(ValueError, match="invalid bucket name"):
        store.read_object("ab", "k")
