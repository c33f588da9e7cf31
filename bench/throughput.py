"""Throughput phases: the bare model, a per-stage breakdown, end to end (raw, PNG,
claim-check), the naive one-message loop, two scorer processes, the trainer."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from confluent_kafka import Consumer

from arena.bus.producer import make_producer
from arena.config import Settings
from arena.datasets import load_mnist
from arena.events import (
    ContentType,
    ImageEvent,
    Prediction,
    decode_image_event,
    encode_image_event,
    encode_prediction,
    now_ms,
)
from arena.flavors.base import ServingModel
from arena.flavors.keras_cnn import KerasCnn
from arena.image_batch import BatchDecoder
from arena.image_source import ImageSource
from arena.images import encode_png, to_unit_float
from bench.kit import (
    ScorerProcess,
    ScorerThread,
    counting,
    drop_topics,
    phase_settings,
    produce_all,
    raw_event,
    wait_for,
    while_alive,
)
from scorer.service import predict_batch
from storage.artifacts import ArtifactStore
from storage.model_loader import LoadedModel

BATCH = 256


def test_images(n: int) -> npt.NDArray[np.uint8]:
    """``n`` MNIST test digits (uint8 [n, 28, 28]), repeating the 10k test set."""
    x = load_mnist().x_test
    images: npt.NDArray[np.uint8] = x[np.arange(n) % len(x)]
    return images


def bare_model(
    model: ServingModel, reps: int, batches_per_rep: int, key: str = "bare_model_img_s"
) -> dict[str, Any]:
    """``predict_proba`` on in-memory batches of 256 (the compiled tf.function, or the ONNX
    Runtime session): the ceiling."""
    x = to_unit_float(test_images(BATCH * batches_per_rep)).reshape(batches_per_rep, BATCH, 28, 28)
    model.warm_up(BATCH)
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        for b in x:
            model.predict_proba(b)
        rates.append(BATCH * batches_per_rep / (time.perf_counter() - start))
    return {key: statistics.median(rates), "reps_img_s": [round(r) for r in rates]}


@dataclass
class _Record:
    payload: bytes

    def value(self) -> bytes:
        return self.payload

    def topic(self) -> str:
        return "bench"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 0

    def key(self) -> bytes | None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (0, 0)

    def headers(self) -> None:
        return None


def breakdown(model: ServingModel, reps: int) -> dict[str, float]:
    """Microseconds per image of each stage of the scorer's batch handler (batches of 256)."""
    images = test_images(BATCH)
    raw = [_Record(raw_event(i, im, "bd")) for i, im in enumerate(images)]
    png = [
        _Record(
            encode_image_event(
                ImageEvent(f"bd-{i}", now_ms(), "bench", ContentType.PNG, encode_png(im))
            )
        )
        for i, im in enumerate(images)
    ]
    source = ImageSource(None, None, 1)
    decoder = BatchDecoder((28, 28), BATCH, source)
    serving = LoadedModel(1, model.name, "0" * 64, model)
    timings: dict[str, list[float]] = {
        k: [] for k in ("decode_raw", "decode_png", "predict", "score_and_encode")
    }
    for _ in range(reps):
        t0 = time.perf_counter()
        batch = decoder.decode(raw)
        t1 = time.perf_counter()
        decoder.decode(png)
        t2 = time.perf_counter()
        batch = decoder.decode(raw)
        t3 = time.perf_counter()
        model.predict_proba(batch.images)
        t4 = time.perf_counter()
        predict_batch(batch, serving, 3, "bench")  # what the scorer runs per batch
        t5 = time.perf_counter()
        for key, dt in (
            ("decode_raw", t1 - t0),
            ("decode_png", t2 - t1),
            ("predict", t4 - t3),
            ("score_and_encode", t5 - t4),
        ):
            timings[key].append(dt * 1e6 / BATCH)
    source.close()
    out = {f"{k}_us_per_img": round(statistics.median(v), 1) for k, v in timings.items()}
    # score_and_encode includes predict; its remainder is top-k and the JSON values.
    out["topk_and_encode_us_per_img"] = round(
        out["score_and_encode_us_per_img"] - out["predict_us_per_img"], 1
    )
    return out


def raw_frames(n: int, run: str) -> Iterator[tuple[str, bytes]]:
    images = test_images(min(n, 10_000))
    for i in range(n):
        yield f"{run}-{i:08d}", raw_event(i, images[i % len(images)], run)


def png_frames(n: int, run: str) -> Iterator[tuple[str, bytes]]:
    pngs = [encode_png(im) for im in test_images(min(n, 10_000))]
    ts = now_ms()
    for i in range(n):
        eid = f"{run}-{i:08d}"
        yield (
            eid,
            encode_image_event(ImageEvent(eid, ts, "bench", ContentType.PNG, pngs[i % len(pngs)])),
        )


def end_to_end(
    base: Settings,
    phase: str,
    n: int,
    frames: Callable[[int, str], Iterator[tuple[str, bytes]]],
    scorer: dict[str, Any],
    timeout_s: float,
) -> dict[str, Any]:
    """N events already on the topic; clock from the scorer's start to the last committed
    prediction seen by a read_committed consumer."""
    settings = phase_settings(base, phase, **scorer)
    run = uuid.uuid4().hex[:6]
    try:
        produce_all(settings, frames(n, run))
        with counting(settings) as counter:
            thread = ScorerThread(settings, f"bench-{phase}-{run}")
            thread.start()
            wait_for(lambda: counter.count() >= n, timeout_s, f"{n} predictions", thread.errors)
            elapsed = time.monotonic() - thread.started_at
            seen = counter.seen
            batches = thread.handle.metrics.batches._value.get()
            thread.stop()
        return {
            "img_s": n / elapsed,
            "steady_img_s": n / max((seen.last_ms - seen.first_ms) / 1000, 1e-3),
            "elapsed_s": round(elapsed, 2),
            "startup_s": round(elapsed - (seen.last_ms - seen.first_ms) / 1000, 2),
            "events": n,
            "predictions": seen.count,
            "distinct": len(seen.keys),
            "mean_batch": round(n / batches, 1) if batches else None,
            "partitions": settings.kafka.partitions,
            "scorer": {k: getattr(settings.scorer, k) for k in scorer},
        }
    finally:
        drop_topics(settings)


PACK_SIZE = 1024


def claimcheck(
    base: Settings, n: int, scorer: dict[str, Any], timeout_s: float, pack_size: int = PACK_SIZE
) -> dict[str, Any]:
    """PNGs in MinIO, events with only an ``s3://`` reference; end to end like ``end_to_end``.

    Two runs of ``n`` events: ``claimcheck_img_s`` (the headline) with the PNGs packed
    ``pack_size`` to an object and ranged references (``?bytes=START-END``), read with one
    ranged GET per object per batch; ``claimcheck_per_object_img_s`` with one object, and
    so one GET, per PNG.
    """
    pngs = [encode_png(im) for im in test_images(min(n, 10_000))]
    images = [pngs[i % len(pngs)] for i in range(n)]
    per_object = _claimcheck_run(base, "claimcheck", images, scorer, timeout_s, pack_size=None)
    packed = _claimcheck_run(base, "claimcheck-packed", images, scorer, timeout_s, pack_size)
    per_object["layout"] = "one MinIO object per PNG, reference s3://bucket/key (one GET each)"
    packed["layout"] = (
        f"{pack_size} PNGs per MinIO object, reference s3://bucket/key?bytes=START-END "
        "(one ranged GET per object per batch)"
    )
    return {
        "claimcheck_img_s": packed["img_s"],
        "claimcheck_per_object_img_s": per_object["img_s"],
        "packed": packed,
        "per_object": per_object,
    }


def _claimcheck_run(
    base: Settings,
    phase: str,
    images: list[bytes],
    scorer: dict[str, Any],
    timeout_s: float,
    pack_size: int | None,
) -> dict[str, Any]:
    n = len(images)
    run = uuid.uuid4().hex[:6]
    store = ArtifactStore(base.s3)
    started = time.perf_counter()
    with ThreadPoolExecutor(10) as pool:
        if pack_size is None:
            keys = [f"bench/{run}/{i:08d}.png" for i in range(n)]
            uris = list(
                pool.map(lambda i: store.put_image(keys[i], images[i], "image/png"), range(n))
            )
        else:
            starts = range(0, n, pack_size)
            keys = [f"bench/{run}/pack-{j:08d}.bin" for j in starts]
            packs = pool.map(
                lambda kj: store.put_image_pack(kj[0], images[kj[1] : kj[1] + pack_size]),
                zip(keys, starts, strict=True),
            )
            uris = [uri for pack in packs for uri in pack]
    upload_s = time.perf_counter() - started

    def frames(count: int, run_id: str) -> Iterator[tuple[str, bytes]]:
        ts = now_ms()
        for i in range(count):
            eid = f"{run_id}-{i:08d}"
            yield (
                eid,
                encode_image_event(
                    ImageEvent(eid, ts, "bench", ContentType.PNG, b"", reference=uris[i])
                ),
            )

    try:
        out = end_to_end(base, phase, n, frames, scorer, timeout_s)
    finally:
        _remove_images(base, keys)
        store.close()
    out["objects"] = len(keys)
    out["upload_img_s"] = round(n / upload_s)
    return out


def _remove_images(settings: Settings, keys: list[str]) -> None:
    from minio import Minio
    from minio.deleteobjects import DeleteObject

    s3 = settings.s3
    client = Minio(
        s3.endpoint,
        access_key=s3.access_key,
        secret_key=s3.secret_key.get_secret_value(),
        secure=s3.secure,
    )
    for error in client.remove_objects(s3.image_bucket, (DeleteObject(k) for k in keys)):
        raise RuntimeError(f"could not delete a bench image: {error}")


def naive(base: Settings, model: KerasCnn, n: int) -> dict[str, Any]:
    """The article's baseline: poll one message, ``model.predict`` it, produce one message."""
    settings = phase_settings(base, "naive")
    run = uuid.uuid4().hex[:6]
    keras_model = model._model
    try:
        produce_all(settings, raw_frames(n, run))
        consumer = Consumer(
            {
                **settings.kafka.client_config(),
                "group.id": f"bench-naive-{run}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
            }
        )
        consumer.subscribe([settings.kafka.image_topic])
        producer = make_producer(settings.kafka)
        done, started = 0, 0.0
        while done < n:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            if done == 0:
                started = time.perf_counter()  # not counting the group join
            event = decode_image_event(msg.value())
            x = np.frombuffer(event.payload, np.uint8).reshape(1, 28, 28, 1) / 255.0
            proba = keras_model.predict(x, verbose=0)[0]
            label = int(np.argmax(proba))
            producer.produce(
                settings.kafka.prediction_topic,
                encode_prediction(
                    Prediction(
                        event.event_id,
                        1,
                        label,
                        [(label, float(proba[label]))],
                        0.0,
                        event.timestamp_ms,
                    )
                ),
                event.event_id.encode(),
            )
            producer.poll(0)
            done += 1
        producer.flush(30)
        elapsed = time.perf_counter() - started
        consumer.close()
        return {"naive_img_s": n / elapsed, "events": n}
    finally:
        drop_topics(settings)


def two_processes(
    base: Settings, n: int, scorer: dict[str, Any], timeout_s: float, log_dir: Path
) -> dict[str, Any]:
    """Two ``arena scorer`` subprocesses on 4 partitions; also their peak RSS (VmHWM)."""
    out = scorer_processes(base, 2, n, scorer, timeout_s, log_dir, "scale2")
    return {
        "scale_2_scorers_img_s": out["img_s"],
        "scale_2_scorers_steady_img_s": out["steady_img_s"],
        **{k: v for k, v in out.items() if k not in {"img_s", "steady_img_s"}},
    }


def scorer_processes(
    base: Settings,
    k: int,
    n: int,
    scorer: dict[str, Any],
    timeout_s: float,
    log_dir: Path,
    phase: str,
) -> dict[str, Any]:
    """``k`` ``arena scorer`` subprocesses on 4 partitions through a backlog of ``n``
    frames, from their start (group join included) to the last prediction."""
    settings = phase_settings(base, phase, **scorer)
    run = uuid.uuid4().hex[:6]
    procs: list[ScorerProcess] = []
    try:
        produce_all(settings, raw_frames(n, run))
        with counting(settings) as counter:
            started, started_ms = time.monotonic(), now_ms()
            procs = [
                ScorerProcess(settings, f"bench-{phase}-{run}-{i}", log_dir / f"{phase}-{i}.log")
                for i in range(k)
            ]

            wait_for(
                while_alive(list(procs), lambda: counter.count() >= n, log_dir),
                timeout_s,
                f"{n} predictions from {k} scorer(s)",
            )
            elapsed = time.monotonic() - started
            seen = counter.seen
        for p in procs:
            p.stop()
        return {
            "img_s": n / elapsed,
            "steady_img_s": n / max((seen.last_ms - seen.first_ms) / 1000, 1e-3),
            "elapsed_s": round(elapsed, 2),
            # From spawning the processes to the first committed prediction, a backlog waiting.
            "first_prediction_s": round((seen.first_ms - started_ms) / 1000, 3),
            "events": n,
            "distinct": len(seen.keys),
            "scorer_rss_mib": max(p.peak_kib for p in procs) / 1024,
            "rss_per_scorer_mib": [round(p.peak_kib / 1024, 1) for p in procs],
        }
    finally:
        for p in procs:
            p.stop()
        drop_topics(settings)


def trainer(model: KerasCnn, n: int, epochs: int) -> dict[str, Any]:
    """Keras fine-tuning throughput: ``fit`` on ``n`` examples, ``epochs`` epochs, warm."""
    data = load_mnist()
    x = to_unit_float(data.x_train[:n])
    y = data.y_train[:n]
    clone = model.clone()
    clone.fit(x[:256], y[:256], epochs=1, learning_rate=1e-4)  # compile outside the clock
    started = time.perf_counter()
    clone.fit(x, y, epochs=epochs, learning_rate=1e-4)
    elapsed = time.perf_counter() - started
    return {"trainer_samples_s": n * epochs / elapsed, "samples": n, "epochs": epochs}


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
