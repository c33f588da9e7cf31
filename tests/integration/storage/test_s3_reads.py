"""SignedReads against the stack's MinIO: objects, ranges, missing ones, refusals, outages."""

from __future__ import annotations

import io
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest

from arena.config import ObjectStoreSettings
from arena.errors import InfrastructureUnavailable
from storage.artifacts import ArtifactStore
from storage.errors import ArtifactNotFound
from storage.s3_reads import ObjectRefused, SignedReads
from tests.integration.storage.conftest import raw_minio


@pytest.fixture
def stored(artifact_store: ArtifactStore, object_store_settings: ObjectStoreSettings) -> str:
    """The key of a 100,000-byte object (byte i is i mod 251) in the image bucket."""
    key = f"reads/{uuid.uuid4().hex}/photo #1 ü.bin"
    artifact_store.put_image(key, bytes(i % 251 for i in range(100_000)))
    return key


@pytest.fixture
def reads(object_store_settings: ObjectStoreSettings) -> Iterator[SignedReads]:
    with SignedReads(object_store_settings) as r:
        yield r


def test_an_object_and_its_ranges_are_read_over_one_kept_connection(
    reads: SignedReads, object_store_settings: ObjectStoreSettings, stored: str
) -> None:
    bucket = object_store_settings.image_bucket
    expected = bytes(i % 251 for i in range(100_000))

    assert reads.read_object(bucket, stored) == expected
    assert reads.read_range(bucket, stored, 99_990, 10) == expected[99_990:]
    assert reads.read_range(bucket, stored, 99_995, 50) == expected[99_995:]  # cut at the end
    assert reads.read_range(bucket, stored, 0, 1_000_001) == expected  # longer than it is
    assert reads.read_range(bucket, stored, 200_000, 10) == b""  # starts past the end
    for start in range(0, 100_000, 9_973):  # many requests, one connection
        assert reads.read_range(bucket, stored, start, 17) == expected[start : start + 17]


def test_a_missing_object_or_bucket_is_not_found(
    reads: SignedReads, object_store_settings: ObjectStoreSettings
) -> None:
    with pytest.raises(ArtifactNotFound, match="does not exist"):
        reads.read_object(object_store_settings.image_bucket, "no/such/key.png")
    with pytest.raises(ArtifactNotFound):
        reads.read_range(f"no-bucket-{uuid.uuid4().hex[:8]}", "k", 0, 10)


def test_an_object_key_the_store_refuses_is_the_requests_fault(
    reads: SignedReads, object_store_settings: ObjectStoreSettings
) -> None:
    for key in ("bad\x00key", "../../etc/passwd"):
        with pytest.raises(ObjectRefused, match="XMinioInvalid") as refused:
            reads.read_object(object_store_settings.image_bucket, key)
        assert refused.value.status == 400


def test_wrong_credentials_are_the_stores_fault_and_retried(
    object_store_settings: ObjectStoreSettings, stored: str
) -> None:
    wrong = object_store_settings.model_copy(update={"access_key": "nobody-we-know"})
    with SignedReads(wrong) as reads, pytest.raises(InfrastructureUnavailable, match="Invalid"):
        reads.read_object(object_store_settings.image_bucket, stored)


def test_an_unreachable_store_is_unavailable_and_reads_resume_when_it_answers(
    object_store_settings: ObjectStoreSettings, stored: str
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connecting is refused
    down = object_store_settings.model_copy(update={"endpoint": f"127.0.0.1:{port}"})
    with SignedReads(down) as reads, pytest.raises(InfrastructureUnavailable, match="refused"):
        reads.read_object(object_store_settings.image_bucket, stored)


def test_a_store_that_accepts_but_never_answers_times_out(
    object_store_settings: ObjectStoreSettings,
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        silent = object_store_settings.model_copy(
            update={"endpoint": f"127.0.0.1:{port}", "read_timeout_s": 0.5}
        )
        with SignedReads(silent) as reads, pytest.raises(InfrastructureUnavailable):
            reads.read_object(object_store_settings.image_bucket, "k")


def test_a_connection_the_store_closed_while_idle_is_replaced(
    reads: SignedReads, object_store_settings: ObjectStoreSettings, stored: str
) -> None:
    bucket = object_store_settings.image_bucket
    assert reads.read_range(bucket, stored, 0, 4) == bytes([0, 1, 2, 3])
    reads._local.sock.shutdown(socket.SHUT_RDWR)  # as an idle timeout on the server would

    assert reads.read_range(bucket, stored, 4, 4) == bytes([4, 5, 6, 7])


def test_threads_read_concurrently_each_on_its_own_connection(
    reads: SignedReads, object_store_settings: ObjectStoreSettings
) -> None:
    bucket = object_store_settings.image_bucket
    client = raw_minio(object_store_settings)
    keys = [f"reads/{uuid.uuid4().hex}/{i}.png" for i in range(8)]
    for i, key in enumerate(keys):
        client.put_object(bucket, key, io.BytesIO(bytes([i]) * 1000), 1000)
    seen: dict[int, list[bytes]] = {}

    def read(i: int) -> None:
        seen[i] = [reads.read_object(bucket, keys[i]) for _ in range(20)]

    threads = [threading.Thread(target=read, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert {i: set(v) for i, v in seen.items()} == {i: {bytes([i]) * 1000} for i in range(8)}
