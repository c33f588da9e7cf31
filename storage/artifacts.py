"""Model artifacts and claim-check images in MinIO, content-addressed and verified on read.

Order of operations for a new model: ``put`` the bytes first, then register the version with
the returned ``ArtifactRef``. A registry row then never points at a missing object; an
upload whose registration failed is only an unreferenced blob.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from arena.config import ObjectStoreSettings
from arena.errors import ArtifactIntegrityError, InfrastructureUnavailable
from arena.image_source import ranged_reference
from storage.domain import ArtifactRef
from storage.errors import ArtifactNotFound
from storage.s3_reads import MISSING as _MISSING
from storage.s3_reads import STORE_FAULTS as _STORE_FAULTS

_SHA256_META = "x-amz-meta-sha256"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return bucket, key


class ArtifactStore:
    """MinIO access for model artifacts (``model_bucket``) and images (``image_bucket``)."""

    def __init__(
        self, s3: ObjectStoreSettings, *, client: Minio | None = None, fetch_threads: int = 8
    ) -> None:
        self._s3 = s3
        self._client = client or Minio(
            s3.endpoint,
            access_key=s3.access_key,
            secret_key=s3.secret_key.get_secret_value(),
            secure=s3.secure,
            # One connection per fetch thread: the client's default pool keeps 10, and a
            # bigger thread pool would open and discard connections on every request.
            http_client=urllib3.PoolManager(
                maxsize=max(10, fetch_threads),
                timeout=urllib3.Timeout(connect=5.0, read=s3.read_timeout_s),
                retries=urllib3.Retry(
                    total=3, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)
                ),
            ),
        )
        self._buckets: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=fetch_threads, thread_name_prefix="s3-fetch")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ArtifactStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def put(self, data: bytes) -> ArtifactRef:
        """Store ``data`` at ``sha256/<hex>``; storing the same bytes again uploads nothing."""
        digest = hashlib.sha256(data).hexdigest()
        bucket, key = self._s3.model_bucket, f"sha256/{digest}"
        self._ensure_bucket(bucket)
        if not self._holds(bucket, key, digest, len(data)):
            self._client.put_object(
                bucket, key, io.BytesIO(data), len(data), metadata={"sha256": digest}
            )
        return ArtifactRef(uri=f"s3://{bucket}/{key}", sha256=digest, size=len(data))

    def get(
        self,
        ref_or_uri: ArtifactRef | str,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> bytes:
        """Download an artifact and verify it; raises ArtifactIntegrityError on any mismatch.

        With an ``ArtifactRef`` the expectations default to the ref's; with a URI
        ``expected_sha256`` is required.
        """
        if isinstance(ref_or_uri, ArtifactRef):
            uri = ref_or_uri.uri
            expected_sha256 = expected_sha256 or ref_or_uri.sha256
            expected_size = ref_or_uri.size if expected_size is None else expected_size
        else:
            uri = ref_or_uri
        if not expected_sha256:
            raise ValueError(f"{uri}: an expected sha256 is required to download an artifact")
        bucket, key = parse_s3_uri(uri)
        if expected_size is not None:
            # Never read more than the registry recorded (plus one byte, to notice more):
            # an object replaced behind its back cannot make a service read gigabytes.
            data = self.read_range(bucket, key, 0, expected_size + 1)
        else:
            data = self.read_object(bucket, key)
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256.lower():
            raise ArtifactIntegrityError(
                f"{uri}: downloaded bytes hash to sha256 {actual}, "
                f"but the registry recorded {expected_sha256}"
            )
        if expected_size is not None and len(data) != expected_size:
            raise ArtifactIntegrityError(
                f"{uri}: downloaded {len(data)} bytes, but the registry recorded {expected_size}"
            )
        return data

    def alias(self, name: str, ref: ArtifactRef) -> None:
        """Point ``<alias prefix>/<name>.json`` (e.g. ``aliases/champion.json``) at ``ref``.

        The prefix (``ARENA_S3_ALIAS_PREFIX``) is the deployment's, so two deployments sharing
        a bucket never overwrite each other's aliases."""
        body = json.dumps({"uri": ref.uri, "sha256": ref.sha256, "size": ref.size}).encode()
        bucket = self._s3.model_bucket
        self._ensure_bucket(bucket)
        self._client.put_object(
            bucket,
            _alias_key(self._s3.alias_prefix, name),
            io.BytesIO(body),
            len(body),
            "application/json",
        )

    def resolve_alias(self, name: str) -> ArtifactRef | None:
        """The artifact ``name`` points at, or None when the alias was never written."""
        try:
            body = self.read_object(self._s3.model_bucket, _alias_key(self._s3.alias_prefix, name))
        except ArtifactNotFound:
            return None
        try:
            fields = json.loads(body)
            return ArtifactRef(uri=fields["uri"], sha256=fields["sha256"], size=int(fields["size"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ArtifactIntegrityError(f"alias {name!r} is not a valid pointer: {exc}") from exc

    def put_image(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> str:
        """Store an image for claim-check ingestion; returns its ``s3://`` URI."""
        bucket = self._s3.image_bucket
        self._ensure_bucket(bucket)
        self._client.put_object(bucket, key, io.BytesIO(data), len(data), content_type)
        return f"s3://{bucket}/{key}"

    def put_image_pack(
        self, key: str, images: Sequence[bytes], content_type: str = "application/octet-stream"
    ) -> list[str]:
        """Store many images as ONE object; returns one ranged reference per image, in order.

        A drone uploads a flight's photos as one object and produces one event per photo,
        each referencing its bytes (``s3://bucket/key?bytes=START-END``). The scorer then
        reads a batch's photos of that object with one ranged GET instead of one GET each.
        """
        if not images or not all(images):
            raise ValueError("an image pack needs at least one image, and no empty image")
        bucket = self._s3.image_bucket
        self._ensure_bucket(bucket)
        body = b"".join(images)
        self._client.put_object(bucket, key, io.BytesIO(body), len(body), content_type)
        references, start = [], 0
        for image in images:
            references.append(ranged_reference(bucket, key, start, start + len(image) - 1))
            start += len(image)
        return references

    def get_images(self, keys: Sequence[str]) -> list[bytes]:
        """Fetch images concurrently, in order; each is a key of the image bucket or a URI."""
        locations = [
            parse_s3_uri(k) if k.startswith("s3://") else (self._s3.image_bucket, k) for k in keys
        ]
        return list(self._pool.map(lambda loc: self.read_object(*loc), locations))

    def read_object(self, bucket: str, key: str) -> bytes:
        """One object's bytes.

        Raises:
            ArtifactNotFound: (a LookupError) the object or its bucket does not exist.
            InfrastructureUnavailable: the store cannot be reached, times out, answers 5xx
                or throttles, or refuses this service's credentials: retry later.
            S3Error, ValueError: the request itself is refused (access denied, an invalid
                bucket name, ...): retrying cannot help.
        """
        return self._get(bucket, key)

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        """Up to ``length`` bytes of an object from ``start``: fewer, or none, past its end.

        Raises what ``read_object`` raises.
        """
        if start < 0 or length < 1:
            raise ValueError(f"not a byte range: start {start}, length {length}")
        return self._get(bucket, key, offset=start, length=length)

    def _get(self, bucket: str, key: str, *, offset: int = 0, length: int = 0) -> bytes:
        try:
            response = self._client.get_object(bucket, key, offset=offset, length=length)
        except S3Error as exc:
            if exc.code in _MISSING:
                raise ArtifactNotFound(f"s3://{bucket}/{key} does not exist") from exc
            if length and exc.code == "InvalidRange":  # the range starts past the object's end
                return b""
            _raise_if_unavailable(exc, bucket, key)
            raise
        except Exception as exc:
            _raise_if_unavailable(exc, bucket, key)
            raise
        try:
            return bytes(response.read())
        except Exception as exc:  # the connection dropped mid-body, or a read timed out
            _raise_if_unavailable(exc, bucket, key)
            raise
        finally:
            response.close()
            response.release_conn()

    def _holds(self, bucket: str, key: str, digest: str, size: int) -> bool:
        """Whether ``key`` already holds these bytes, as uploaded by ``put``."""
        try:
            stat = self._client.stat_object(bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING:
                return False
            raise
        recorded = (stat.metadata or {}).get(_SHA256_META)
        return stat.size == size and recorded == digest

    def _ensure_bucket(self, bucket: str) -> None:
        if bucket in self._buckets:
            return
        if not self._client.bucket_exists(bucket):
            try:
                self._client.make_bucket(bucket)
            except S3Error as exc:
                if exc.code != "BucketAlreadyOwnedByYou":  # another process created it
                    raise
        self._buckets.add(bucket)


def _raise_if_unavailable(exc: Exception, bucket: str, key: str) -> None:
    """Raise InfrastructureUnavailable from ``exc`` when the store, not the request, failed."""
    if isinstance(exc, S3Error):
        faulty = exc.code in _STORE_FAULTS or _store_status(exc.response.status)
    elif isinstance(exc, ServerError):
        faulty = _store_status(exc.status_code)
    elif isinstance(exc, InvalidResponseError):  # a non-S3 answer, e.g. a proxy's error page
        faulty = True
    elif isinstance(exc, urllib3.exceptions.HTTPError):
        # Connection refused, timeouts, a dropped connection, retries exhausted on 5xx. A
        # LocationValueError is also an HTTPError, but it is a malformed URL: the request's.
        faulty = not isinstance(exc, ValueError)
    else:
        faulty = isinstance(exc, ConnectionError | TimeoutError)
    if faulty:
        raise InfrastructureUnavailable(
            f"object store unavailable reading s3://{bucket}/{key}: {type(exc).__name__}: {exc}"
        ) from exc


def _store_status(status: int) -> bool:
    return status >= 500 or status in (408, 429)


def _alias_key(prefix: str, name: str) -> str:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"alias names are single path segments, got {name!r}")
    return f"{prefix}/{name}.json"
