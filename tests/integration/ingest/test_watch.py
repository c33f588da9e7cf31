"""`arena watch` on real Kafka and MinIO: files in, events out, none twice after a restart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.bus.topics import delete_topics
from arena.config import Settings, with_overrides
from arena.datasets import load_mnist
from arena.events import ContentType, ImageEvent, decode_image_event
from arena.images import encode_png
from arena.ingest.watch import WatchConfig, kafka_watcher
from storage.artifacts import ArtifactStore, parse_s3_uri
from tests.integration.bus.conftest import read_topic


@pytest.fixture
def own_topic(settings: Settings) -> Iterator[Settings]:
    """Settings whose image topic is this test's own (the watcher creates it; deleted after)."""
    s = with_overrides(settings, kafka={"image_topic": f"test.watch-{uuid.uuid4().hex[:10]}"})
    yield s
    delete_topics(s.kafka, [s.kafka.image_topic])


def events(s: Settings, at_least: int) -> list[ImageEvent]:
    messages = read_topic(s.kafka, s.kafka.image_topic, at_least=at_least)
    for m in messages:
        assert m.key() == decode_image_event(m.value()).event_id.encode()
    return [decode_image_event(m.value()) for m in messages]


def test_new_files_are_uploaded_and_published_once_even_across_a_restart(
    own_topic: Settings, tmp_path: Path
) -> None:
    s = own_topic
    folder = tmp_path / "drone"
    folder.mkdir()
    digits = load_mnist().x_test[:4]
    files = {f"flight/{i}.png": encode_png(digits[i]) for i in range(4)}
    for rel in list(files)[:3]:
        (folder / rel).parent.mkdir(exist_ok=True)
        (folder / rel).write_bytes(files[rel])
    source = f"watch-test-{uuid.uuid4().hex[:8]}"
    config = WatchConfig(root=folder, source=source, settle_s=0.0)
    ledger = folder / ".arena-published.jsonl"

    with kafka_watcher(s, config, ledger) as watcher:
        assert len(watcher.scan_once().published) == 3

    first = events(s, at_least=3)
    assert len(first) == 3
    with ArtifactStore(s.s3) as store:
        for event in first:
            bucket, key = parse_s3_uri(event.reference or "")
            assert bucket == s.s3.image_bucket
            rel = key.removeprefix(f"{source}/")
            assert store.read_object(bucket, key) == files[rel]
            assert event.content_type == ContentType.PNG
            assert event.source == source
            assert event.timestamp_ms == (folder / rel).stat().st_mtime_ns // 1_000_000

    new_rel = list(files)[3]
    (folder / new_rel).write_bytes(files[new_rel])
    with kafka_watcher(s, config, ledger) as restarted:
        report = restarted.scan_once()
    assert [e.path for e in report.published] == [new_rel]

    after = events(s, at_least=4)
    assert len(after) == 4
    (added,) = [e for e in after if e.event_id not in {f.event_id for f in first}]
    assert added.reference == f"s3://{s.s3.image_bucket}/{source}/{new_rel}"
    with ArtifactStore(s.s3) as store:
        assert store.read_object(*parse_s3_uri(added.reference)) == files[new_rel]
