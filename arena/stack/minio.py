"""MinIO, built from source with ``go install`` (the project's instruction for the community
edition) and cached, so only the first ``arena stack up`` pays for the build."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import urllib3
from minio import Minio

from arena.config import ObjectStoreSettings, StackSettings
from arena.stack.credentials import load_or_create
from arena.stack.kafka import split_host_port
from arena.stack.minio_users import provision
from arena.stack.process import ManagedProcess, run_checked, wait_until
from arena.stack.tools import require_tool

MODULE = "github.com/minio/minio"


class MinioServer:
    name = "minio"

    def __init__(self, s3: ObjectStoreSettings, stack: StackSettings) -> None:
        self.s3 = s3
        self.stack = stack
        self.host, self.port = split_host_port(s3.endpoint, "ARENA_S3_ENDPOINT")
        self.binary = stack.cache_dir / "bin" / f"minio-{stack.minio_version}"
        self.state = stack.state_dir / "minio"
        self.process = ManagedProcess("minio", self.state / "minio.pid", self.state / "minio.log")

    def install(self) -> bool:
        """``go install`` the pinned MinIO once; returns whether it built."""
        if self.binary.exists():
            return False
        go = require_tool("go")
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="arena-minio-") as gobin:
            run_checked(
                [go, "install", f"{MODULE}@{self.stack.minio_version}"],
                what="building MinIO with go install (first time only, a few minutes)",
                env={"GOBIN": gobin, "CGO_ENABLED": "0"},
            )
            shutil.move(str(Path(gobin) / "minio"), self.binary)
        return True

    def start(self) -> None:
        data = self.state / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.process.start(
            [
                str(self.binary),
                "server",
                "--quiet",
                "--address",
                f"{self.host}:{self.port}",
                "--console-address",
                f"{self.host}:{self.stack.minio_console_port}",
                str(data),
            ],
            env={
                "MINIO_ROOT_USER": self.s3.access_key,
                "MINIO_ROOT_PASSWORD": self.s3.secret_key.get_secret_value(),
                "MINIO_BROWSER": "on",
                "MINIO_UPDATE": "off",
            },
        )

    def client(self) -> Minio:
        """A client for readiness probes: no retries (the probe itself retries, quietly)."""
        return Minio(
            self.s3.endpoint,
            access_key=self.s3.access_key,
            secret_key=self.s3.secret_key.get_secret_value(),
            secure=self.s3.secure,
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=2.0, read=5.0), retries=urllib3.Retry(total=0)
            ),
        )

    def ready(self) -> bool:
        client = self.client()
        client.list_buckets()
        for bucket in (self.s3.model_bucket, self.s3.image_bucket):
            if not client.bucket_exists(bucket):
                client.make_bucket(bucket)
        return True

    def wait_ready(self, timeout_s: float) -> float:
        took = wait_until(
            self.ready, what="MinIO", timeout_s=timeout_s, on_timeout=self.process.log_tail
        )
        if self.stack.secure:
            provision(self.s3, load_or_create(self.stack.state_dir))
        return took

    def stop(self) -> bool:
        return self.process.stop()

    def describe(self) -> str:
        users = " users per service" if self.stack.secure else ""
        return (
            f"minio  http://{self.host}:{self.port} (console :{self.stack.minio_console_port}) "
            f"buckets={self.s3.model_bucket},{self.s3.image_bucket}{users}"
        )
