"""``python -m bench.s3_get``: the service's CPU per image GET, minio client against SignedReads.

Against the stack's MinIO (``ARENA_S3_*``), in one run: GETs of one small object that exists
and of objects that do not, by the minio client (``ArtifactStore``) and by the lean reader
the services use for images (``storage.s3_reads.SignedReads``). Prints CPU and wall time per
GET in microseconds. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import uuid
from collections.abc import Callable

from arena.config import Settings
from storage.artifacts import ArtifactStore
from storage.s3_reads import SignedReads

WARM_UP = 50


def per_get(read: Callable[[int], object], n: int) -> tuple[float, float]:
    """Microseconds of CPU and of wall time per call of ``read``."""
    for i in range(WARM_UP):
        _quietly(read, i)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(n):
        _quietly(read, i)
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


def _quietly(read: Callable[[int], object], i: int) -> None:
    with contextlib.suppress(LookupError):  # a missing object is what that half measures
        read(i)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gets", type=int, default=500, help="GETs per reader and kind")
    args = parser.parse_args(argv)
    settings = Settings()
    bucket, key = settings.s3.image_bucket, f"bench/s3-get/{uuid.uuid4().hex}.png"
    with ArtifactStore(settings.s3) as store, SignedReads(settings.s3) as reads:
        store.put_image(key, b"x" * 800)
        for name, reader in (("minio client", store), ("SignedReads", reads)):
            for kind, read in (
                ("existing", lambda i, r=reader: r.read_range(bucket, key, 0, 1_000_000)),
                ("missing", lambda i, r=reader: r.read_object(bucket, f"bench/none/{i}.png")),
            ):
                cpu, wall = per_get(read, args.gets)
                print(f"{name:12s} {kind:8s} {cpu:6.0f} us CPU, {wall:6.0f} us wall per GET")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
