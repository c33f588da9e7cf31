"""Every kind of poison image in one scorer batch: the batch commits, each good event is
predicted exactly once, each poison one lands in ``<topic>.dlq`` with its reason. An object
store that is down is not poison: the batch is retried until the store is back."""

from __future__ import annotations

import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import urllib3
from confluent_kafka import Message
from minio import Minio

from arena.bus.consumer import BatchConsumer
from arena.bus.records import BatchResult, BatchStats, OutRecord
from arena.bus.stop import StopFlag
from arena.config import KafkaSettings, Settings
from arena.errors import BatchAborted, BusError
from arena.events import ContentType, ImageEvent, decode_prediction, encode_image_event
from arena.flavors import new_model
from arena.image_batch import BatchDecoder
from arena.image_source import ImageSource
from arena.images import encode_png
from scorer.service import predict_batch
from storage.artifacts import ArtifactStore
from storage.model_loader import LoadedModel
from tests.integration.bus.conftest import MakeTopic, produce_raw, read_topic, unique
from tests.integration.bus.test_transactional import consume_n, processor_for

SHAPE = (28, 28)


@pytest.fixture
def store(settings: Settings) -> Iterator[ArtifactStore]:
    """The stack's MinIO, with an image bucket of this test's own (removed afterwards)."""
    s3 = settings.s3.model_copy(update={"image_bucket": f"test-poison-{uuid.uuid4().hex[:10]}"})
    with ArtifactStore(s3) as artifact_store:
        yield artifact_store
    client = Minio(s3.endpoint, s3.access_key, s3.secret_key.get_secret_value(), secure=s3.secure)
    if client.bucket_exists(s3.image_bucket):
        for obj in client.list_objects(s3.image_bucket, recursive=True):
            client.remove_object(s3.image_bucket, obj.object_name or "")
        client.remove_bucket(s3.image_bucket)


@pytest.fixture
def consumer(kafka: KafkaSettings) -> Iterator[BatchConsumer]:
    with BatchConsumer(kafka, unique("group")) as batch_consumer:
        yield batch_consumer


def dds_pillow_cannot_decode() -> bytes:
    header = bytearray(120)
    struct.pack_into("<3I", header, 0, 0x1007, *SHAPE)
    struct.pack_into("<4I", header, 68, 32, 0x4, int.from_bytes(b"ZZZZ", "little"), 0)
    return b"DDS " + struct.pack("<I", 124) + bytes(header)


def png() -> bytes:
    return encode_png(np.random.default_rng(3).integers(0, 256, SHAPE, dtype=np.uint8))


def frame(event_id: str, content_type: ContentType, **body: object) -> tuple[bytes, bytes]:
    event = ImageEvent(event_id, int(time.time() * 1000), "test", content_type, **body)  # type: ignore[arg-type]
    return event_id.encode(), encode_image_event(event)


def scorer_handler(decoder: BatchDecoder, out: str) -> Callable[[list[Message]], BatchResult]:
    """What the scorer's batch handler does: decode, predict the good events, name the dead."""
    serving = LoadedModel(1, "sklearn", "0" * 64, new_model("sklearn"))

    def handle(messages: list[Message]) -> BatchResult:
        batch = decoder.decode(messages)
        values, _ = predict_batch(batch, serving, 3, "test")
        outputs = [
            OutRecord(out, e.event_id.encode(), v)
            for e, v in zip(batch.events, values, strict=True)
        ]
        return BatchResult(outputs=outputs, dead=list(batch.dead))

    return handle


GOOD = {"raw", "png-inline", "png-s3", "png-ranged", "png-file"}
POISON = {
    b"bad-bucket": "invalid bucket name",  # the minio client's ValueError
    b"nul-byte": "null byte",  # ValueError from the file system layer
    b"dds": "not a decodable PNG/JPEG/WEBP/BMP/TIFF/GIF",  # DDS is not an allowed format
    b"missing": "no such object",
    b"garbage-png": "not a decodable PNG",
    b"\x00junk": "shorter than the header",  # not a frame at all
}


def produce_every_kind(kafka: KafkaSettings, topic: str, store: ArtifactStore, root: Path) -> None:
    image = png()
    (root / "good.png").write_bytes(image)
    whole = store.put_image("one.png", image)
    [ranged] = store.put_image_pack("pack.bin", [image])
    bucket = whole.removeprefix("s3://").partition("/")[0]
    produce_raw(
        kafka,
        topic,
        [
            frame("raw", ContentType.RAW_GRAY8, payload=bytes(784), height=28, width=28),
            frame("bad-bucket", ContentType.PNG, reference="s3://ab/k"),
            frame("png-inline", ContentType.PNG, payload=image),
            frame("nul-byte", ContentType.PNG, reference="bad\x00.png"),
            frame("png-s3", ContentType.PNG, reference=whole),
            frame("dds", ContentType.ENCODED, payload=dds_pillow_cannot_decode()),
            frame("missing", ContentType.PNG, reference=f"s3://{bucket}/nothing-here.png"),
            frame("png-ranged", ContentType.PNG, reference=ranged),
            frame("garbage-png", ContentType.PNG, payload=b"garbage"),
            (b"\x00junk", b"\x00junk"),
            frame("png-file", ContentType.PNG, reference="good.png"),
        ],
    )


def assert_predicted_once_and_dead_lettered(kafka: KafkaSettings, source: str, out: str) -> None:
    predictions = [decode_prediction(m.value()) for m in read_topic(kafka, out, at_least=5)]
    assert sorted(p.event_id for p in predictions) == sorted(GOOD)
    dead = read_topic(kafka, kafka.dlq_topic(source), at_least=len(POISON))
    reasons = {m.key(): (dict(m.headers() or [])["error"] or b"").decode() for m in dead}
    assert set(reasons) == set(POISON)
    assert len(dead) == len(POISON)
    for key, expected in POISON.items():
        assert expected in reasons[key], (key, reasons[key])
    assert all(dict(m.headers() or [])["origin.topic"] == source.encode() for m in dead)


def test_a_batch_with_every_kind_of_poison_commits_once(
    kafka: KafkaSettings,
    make_topic: MakeTopic,
    consumer: BatchConsumer,
    store: ArtifactStore,
    tmp_path: Path,
) -> None:
    source, out = make_topic("images", dlq=True), make_topic("predictions")
    produce_every_kind(kafka, source, store, tmp_path)
    processor = processor_for(kafka, consumer)
    consumer.subscribe([source])
    source_images = ImageSource(store, tmp_path, threads=2)
    try:
        batch = consume_n(consumer, 11)
        stats = processor.process_batch(
            batch, scorer_handler(BatchDecoder(SHAPE, 16, source_images), out)
        )
    finally:
        source_images.close()

    assert (stats.n_in, stats.n_out, stats.n_dead) == (11, len(GOOD), len(POISON))
    assert_predicted_once_and_dead_lettered(kafka, source, out)


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on exit: connecting is refused


class OutageThenRecovery:
    """Reads from a store nobody answers at (a closed port, the real client) until
    ``recover()``, then from the real store."""

    def __init__(self, up: ArtifactStore, settings: Settings) -> None:
        self._up = up
        down = Minio(
            f"127.0.0.1:{refused_port()}",
            access_key="x",
            secret_key="y",
            secure=False,
            http_client=urllib3.PoolManager(retries=urllib3.Retry(total=0)),
        )
        self._down = ArtifactStore(settings.s3, client=down, fetch_threads=1)
        self.reading_from = self._down

    def recover(self) -> None:
        self.reading_from = self._up

    def close(self) -> None:
        self._down.close()

    def read_object(self, bucket: str, key: str) -> bytes:
        return self.reading_from.read_object(bucket, key)

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        return self.reading_from.read_range(bucket, key, start, length)


def test_an_unreachable_store_retries_the_batch_and_dead_letters_nothing_until_it_is_back(
    kafka: KafkaSettings,
    make_topic: MakeTopic,
    consumer: BatchConsumer,
    store: ArtifactStore,
    settings: Settings,
    tmp_path: Path,
) -> None:
    source, out = make_topic("images", dlq=True), make_topic("predictions")
    produce_every_kind(kafka, source, store, tmp_path)
    objects = OutageThenRecovery(store, settings)
    source_images = ImageSource(objects, tmp_path, threads=2)
    consumer.subscribe([source])
    retries: list[BusError] = []
    committed: list[BatchStats] = []
    deadline = time.monotonic() + 90

    with StopFlag() as stop:

        def store_comes_back_after_two_failures(exc: BusError) -> None:
            retries.append(exc)
            if time.monotonic() > deadline:
                stop.set()  # a batch that keeps failing must fail the test, not hang it
            if len(retries) == 2:
                # Nothing was committed while the store was down: no dead letter, no output.
                assert read_topic(kafka, kafka.dlq_topic(source)) == []
                assert read_topic(kafka, out) == []
                objects.recover()

        def stop_when_all_committed(stats: BatchStats) -> None:
            committed.append(stats)
            if sum(c.n_in for c in committed) >= 11:
                stop.set()

        def stop_at_deadline() -> None:
            if time.monotonic() > deadline:
                stop.set()

        processor = processor_for(kafka, consumer, on_commit=stop_when_all_committed)
        try:
            processor.run(
                stop,
                scorer_handler(BatchDecoder(SHAPE, 16, source_images), out),
                batch_size=100,
                batch_timeout_s=0.5,
                on_idle=stop_at_deadline,
                on_retry=store_comes_back_after_two_failures,
            )
        finally:
            source_images.close()
            objects.close()

    assert sum(c.n_in for c in committed) == 11
    assert len(retries) == 2
    assert all(isinstance(e, BatchAborted) for e in retries)
    assert all("InfrastructureUnavailable" in str(e) for e in retries)
    assert "refused" in str(retries[0])
    assert_predicted_once_and_dead_lettered(kafka, source, out)
