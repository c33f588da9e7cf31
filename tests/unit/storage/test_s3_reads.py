"""SignedReads' pure parts: its SigV4 signature is the one the minio client computes for the
same GET, error responses are read without parsing XML, and bucket names are checked."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import pytest
from minio.credentials import Credentials
from minio.signer import sign_v4_s3

from arena.config import ObjectStoreSettings
from arena.errors import ConfigError
from storage.s3_reads import EMPTY_SHA256, SignedReads, authorization, error_of, signing_key


@pytest.mark.parametrize("key", ["images/a.png", "drone 7/2026-12-02/photo #1.jpg", "ü/ß~x"])
def test_the_signature_is_the_minio_clients_for_the_same_request(key: str) -> None:
    when = datetime(2026, 12, 2, 15, 4, 5, tzinfo=UTC)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    host, path = "127.0.0.1:19000", f"/arena-images/{quote(key, safe='/~')}"
    theirs = sign_v4_s3(
        method="GET",
        url=urlsplit(f"http://{host}{path}"),
        region="us-east-1",
        headers={"Host": host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date},
        credentials=Credentials("arena", "a-secret-of-some-length"),
        content_sha256=EMPTY_SHA256,
        date=when,
    )["Authorization"]

    ours = authorization(
        access_key="arena",
        key=signing_key("a-secret-of-some-length", amz_date[:8], "us-east-1"),
        region="us-east-1",
        amz_date=amz_date,
        host=host,
        path=path,
    )

    assert ours == theirs


def test_an_error_response_gives_its_code_message_and_region() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AuthorizationHeaderMalformed'
        b"</Code><Message>the region &#39;us-east-1&#39; is wrong</Message>"
        b"<Region>eu-west-3</Region></Error>"
    )
    assert error_of(400, body) == (
        "AuthorizationHeaderMalformed",
        "the region &#39;us-east-1&#39; is wrong",
        "eu-west-3",
    )
    assert error_of(404, b"") == ("HTTP404", "", None)
    assert error_of(403, b"<Error><Code>" + b"A" * 5000 + b"</Code></Error>")[0] == "HTTP403"


@pytest.mark.parametrize("bucket", ["ab", "Upper", "-edge", "edge-", "a..b", "x" * 64, "a_b"])
def test_a_bucket_name_s3_does_not_allow_is_refused_before_any_request(bucket: str) -> None:
    reads = SignedReads(ObjectStoreSettings(endpoint="127.0.0.1:9"))  # nothing listens there
    with pytest.raises(ValueError, match="invalid bucket name"):
        reads.read_object(bucket, "k")


@pytest.mark.parametrize("endpoint", ["minio.internal", "http://minio.internal:9000", ":9000"])
def test_an_endpoint_that_is_not_host_and_port_names_the_setting(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="ARENA_S3_ENDPOINT must be host:port"):
        SignedReads(ObjectStoreSettings(endpoint=endpoint))
