"""URI parsing of the artifact store (no MinIO needed)."""

from __future__ import annotations

import pytest

from storage.artifacts import parse_s3_uri


def test_parse_s3_uri_splits_bucket_and_key() -> None:
    assert parse_s3_uri("s3://models/sha256/ab") == ("models", "sha256/ab")


@pytest.mark.parametrize("uri", ["models/sha256/ab", "s3://models", "s3:///key", "file:///x"])
def test_parse_s3_uri_refuses_other_shapes(uri: str) -> None:
    with pytest.raises(ValueError, match="not an s3://bucket/key URI"):
        parse_s3_uri(uri)
