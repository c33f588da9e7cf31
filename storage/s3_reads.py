"""Signed GETs of claim-check images, lean enough for one request per image.

The minio client spends about 480 us of CPU on each GET here (URL and header objects,
urllib3's pool, the email parser for the response headers, an XML parse of every error):
the scorer's cost of a claim check was the client, not the bytes. ``SignedReads`` keeps one
connection per fetch thread alive, derives the SigV4 signing key once a day, writes the
request and parses the response by hand: a GET costs about a fifth of that.

It reads only (``ObjectReader``: whole objects and byte ranges); artifacts, uploads and
aliases keep the minio client (``storage.artifacts``). Errors follow the same taxonomy:

- ``ArtifactNotFound`` (a LookupError): no such object or bucket;
- ``InfrastructureUnavailable``: the store cannot be reached, times out, answers 5xx, 408 or
  429, or refuses this service's credentials (``STORE_FAULTS``): retry later;
- ``ObjectRefused``, or ValueError for a bucket name S3 does not allow: the request itself
  is wrong (access denied, ...), which no retry mends: the event is poison.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from arena.config import ObjectStoreSettings
from arena.errors import ConfigError, InfrastructureUnavailable
from storage.errors import ArtifactNotFound

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MISSING = frozenset({"NoSuchKey", "NoSuchBucket"})
# S3 error codes that blame the store or this service's own credentials, not the request:
# every request would fail alike, so they are retried rather than poisoning the event.
STORE_FAULTS = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "XMinioServerNotInitialized",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "RequestTimeTooSkewed",
    }
)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_MAX_HEADER_BYTES = 64 * 1024
_MAX_ERROR_BODY = 64 * 1024


class ObjectRefused(Exception):
    """The store refused the request itself (``code``, e.g. AccessDenied): not retriable."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code} (HTTP {status}): {message}")
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes


class _ConnectionLost(Exception):
    """A kept-alive connection closed before it answered: send the request again."""


def signing_key(secret: str, day: str, region: str) -> bytes:
    """The SigV4 key of ``day`` (YYYYMMDD) and ``region`` for S3."""
    key = f"AWS4{secret}".encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def authorization(
    *,
    access_key: str,
    key: bytes,
    region: str,
    amz_date: str,
    host: str,
    path: str,
) -> str:
    """The Authorization header of a GET of ``path`` (already URI-encoded) signed with
    ``key`` (``signing_key`` of ``amz_date``'s day): host, payload hash and date signed."""
    signed = "host;x-amz-content-sha256;x-amz-date"
    canonical = (
        f"GET\n{path}\n\nhost:{host}\nx-amz-content-sha256:{EMPTY_SHA256}\n"
        f"x-amz-date:{amz_date}\n\n{signed}\n{EMPTY_SHA256}"
    )
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    to_sign = (
        f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    )
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )


def error_of(status: int, body: bytes) -> tuple[str, str, str | None]:
    """The S3 error code, message and (for a wrong region) the region the store expects,
    read from an error response's XML with patterns only: nothing in it is parsed as XML."""
    text = body[:_MAX_ERROR_BODY].decode("utf-8", errors="replace")

    def tag(name: str) -> str | None:
        found = re.search(f"<{name}>([^<]{{0,1024}})</{name}>", text)
        return found.group(1) if found else None

    code = tag("Code") or f"HTTP{status}"
    return code, tag("Message") or "", tag("Region")


class SignedReads:
    """GETs of objects and byte ranges from one S3 endpoint, a kept-alive connection per
    calling thread. Thread-safe; ``close`` drops every connection."""

    def __init__(
        self,
        s3: ObjectStoreSettings,
        *,
        region: str = "us-east-1",
        connect_timeout_s: float = 5.0,
    ) -> None:
        self._s3 = s3
        self._host = s3.endpoint
        address, _, port = s3.endpoint.rpartition(":")
        if not address or not port.isdigit() or "/" in s3.endpoint:
            raise ConfigError(
                f"ARENA_S3_ENDPOINT must be host:port (no scheme: ARENA_S3_SECURE chooses TLS), "
                f"got {s3.endpoint!r}"
            )
        self._address = (address.strip("[]"), int(port))
        self._region = region
        self._connect_timeout_s = connect_timeout_s
        self._tls = ssl.create_default_context() if s3.secure else None
        self._keys: dict[tuple[str, str], bytes] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()

    def close(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            sock.close()

    def __enter__(self) -> SignedReads:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_object(self, bucket: str, key: str) -> bytes:
        """One object's bytes (raises as the module says)."""
        return self._get(bucket, key, None)

    def read_range(self, bucket: str, key: str, start: int, length: int) -> bytes:
        """Up to ``length`` bytes of an object from ``start``: fewer, or none, past its end."""
        if start < 0 or length < 1:
            raise ValueError(f"not a byte range: start {start}, length {length}")
        return self._get(bucket, key, (start, length))

    def _get(self, bucket: str, key: str, window: tuple[int, int] | None) -> bytes:
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise ValueError(f"invalid bucket name {bucket!r}")
        if not key:
            raise ValueError("an object key must not be empty")
        path = f"/{bucket}/{quote(key, safe='/~')}"
        where = f"s3://{bucket}/{key}"
        response = self._request(path, window, where)
        if response.status in (200, 206):
            return response.body if window is None else response.body[: window[1]]
        code, message, region = error_of(response.status, response.body)
        if region and region != self._region and code in ("AuthorizationHeaderMalformed",):
            self._region = region  # the store lives elsewhere: sign for its region, once
            return self._get(bucket, key, window)
        if code in MISSING or (response.status == 404 and code.startswith("HTTP")):
            raise ArtifactNotFound(f"{where} does not exist")
        if window is not None and (code == "InvalidRange" or response.status == 416):
            return b""  # the range starts past the object's end
        if code in STORE_FAULTS or response.status >= 500 or response.status in (408, 429):
            raise InfrastructureUnavailable(
                f"object store unavailable reading {where}: {code} (HTTP {response.status})"
                + (f": {message}" if message else "")
            )
        raise ObjectRefused(code, message or f"reading {where}", response.status)

    def _request(self, path: str, window: tuple[int, int] | None, where: str) -> _Response:
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {self._host}",
            f"x-amz-date: {amz_date}",
            f"x-amz-content-sha256: {EMPTY_SHA256}",
            "Authorization: "
            + authorization(
                access_key=self._s3.access_key,
                key=self._key(amz_date[:8]),
                region=self._region,
                amz_date=amz_date,
                host=self._host,
                path=path,
            ),
        ]
        if window is not None:
            lines.append(f"Range: bytes={window[0]}-{window[0] + window[1] - 1}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        limit = None if window is None else window[1]
        for attempt in (1, 2):
            reused = getattr(self._local, "sock", None) is not None
            try:
                sock = self._connection()
                sock.sendall(request)
                return self._read_response(sock, limit)
            except _ConnectionLost as exc:
                self._drop()
                if reused and attempt == 1:
                    continue  # the store closed an idle connection: once more on a new one
                raise InfrastructureUnavailable(
                    f"object store unavailable reading {where}: {exc}"
                ) from exc
            except (OSError, ValueError) as exc:  # refused, reset, timed out, TLS, garbage
                self._drop()
                if reused and attempt == 1 and not isinstance(exc, TimeoutError):
                    continue
                raise InfrastructureUnavailable(
                    f"object store unavailable reading {where}: {type(exc).__name__}: {exc}"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _key(self, day: str) -> bytes:
        found = self._keys.get((day, self._region))
        if found is None:
            found = signing_key(self._s3.secret_key.get_secret_value(), day, self._region)
            self._keys = {(day, self._region): found}  # yesterday's key is no longer needed
        return found

    def _connection(self) -> socket.socket:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is not None:
            return sock
        sock = socket.create_connection(self._address, timeout=self._connect_timeout_s)
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=self._address[0])
        sock.settimeout(self._s3.read_timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._local.sock = sock
        self._local.buffer = b""
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _drop(self) -> None:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        self._local.sock = None
        self._local.buffer = b""
        if sock is not None:
            with self._lock:
                self._sockets.discard(sock)
            sock.close()

    def _read_response(self, sock: socket.socket, limit: int | None) -> _Response:
        """Status, headers and body; the connection stays open unless the response says
        otherwise, or its body is longer than ``limit`` (which is then not read to its end)."""
        data: bytes = self._local.buffer
        while b"\r\n\r\n" not in data:
            if len(data) > _MAX_HEADER_BYTES:
                raise ValueError("response headers too long")
            chunk = sock.recv(65536)
            if not chunk:
                raise _ConnectionLost("the connection closed before a response")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP response: {status_line[:80]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        keep = headers.get("connection", "").lower() != "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, rest = self._read_chunked(sock, rest)
        elif "content-length" in headers:
            size = int(headers["content-length"])
            cap = _MAX_ERROR_BODY if status >= 300 else limit
            wanted = size if cap is None else min(size, cap)
            while len(rest) < wanted:
                chunk = sock.recv(max(65536, wanted - len(rest)))
                if not chunk:
                    raise _ConnectionLost("the connection closed mid-body")
                rest += chunk
            if wanted < size:
                keep = False  # the rest of the body is never read: this connection is spent
            body, rest = rest[:wanted], rest[wanted:]
        else:
            body, rest, keep = self._read_to_close(sock, rest, limit), b"", False
        if keep:
            self._local.buffer = rest
        else:
            self._drop()
        return _Response(status, headers, body)

    def _read_chunked(self, sock: socket.socket, data: bytes) -> tuple[bytes, bytes]:
        body = bytearray()
        while True:
            while b"\r\n" not in data:
                data = self._more(sock, data)
            size_line, _, data = data.partition(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            while len(data) < size + 2:
                data = self._more(sock, data)
            if size == 0:
                while b"\r\n" not in data:  # no trailers are sent by S3 stores
                    data = self._more(sock, data)
                return bytes(body), data.partition(b"\r\n")[2]
            body += data[:size]
            data = data[size + 2 :]

    @staticmethod
    def _more(sock: socket.socket, data: bytes) -> bytes:
        chunk = sock.recv(65536)
        if not chunk:
            raise _ConnectionLost("the connection closed mid-body")
        return data + chunk

    @staticmethod
    def _read_to_close(sock: socket.socket, data: bytes, limit: int | None) -> bytes:
        while limit is None or len(data) < limit:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data if limit is None else data[:limit]
