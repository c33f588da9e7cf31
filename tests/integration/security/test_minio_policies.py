"""MinIO on a secure stack: each service's user may do only its own work (issue 9)."""

from __future__ import annotations

import io
import uuid

import pytest
from minio import Minio
from minio.error import S3Error

from arena.config import Settings
from arena.stack.credentials import StackCredentials, principal


def _client(settings: Settings, credentials: StackCredentials, role: str) -> Minio:
    return Minio(
        settings.s3.endpoint,
        access_key=principal(role),
        secret_key=credentials.minio[role],
        secure=settings.s3.secure,
    )


def _put(client: Minio, bucket: str) -> str:
    name = f"probe/{uuid.uuid4().hex}"
    client.put_object(bucket, name, io.BytesIO(b"model bytes"), length=11)
    return name


def test_the_scorer_reads_models_and_images_but_cannot_put(
    secure_settings: Settings, credentials: StackCredentials
) -> None:
    s3 = secure_settings.s3
    model = _put(_client(secure_settings, credentials, "trainer"), s3.model_bucket)
    scorer = _client(secure_settings, credentials, "scorer")

    assert scorer.get_object(s3.model_bucket, model).read() == b"model bytes"
    for bucket in (s3.model_bucket, s3.image_bucket):
        with pytest.raises(S3Error) as refused:
            _put(scorer, bucket)
        assert refused.value.code == "AccessDenied"
    with pytest.raises(S3Error) as refused:
        scorer.remove_object(s3.model_bucket, model)  # MinIO answers 204 even when missing
    assert refused.value.code == "AccessDenied"


@pytest.mark.parametrize(
    ("role", "bucket_field", "allowed"),
    [
        ("trainer", "model_bucket", True),
        ("trainer", "image_bucket", False),
        ("producer", "image_bucket", True),
        ("producer", "model_bucket", False),
        ("evaluator", "model_bucket", False),
    ],
)
def test_each_user_puts_only_where_it_must(
    secure_settings: Settings,
    credentials: StackCredentials,
    role: str,
    bucket_field: str,
    allowed: bool,
) -> None:
    client = _client(secure_settings, credentials, role)
    bucket = getattr(secure_settings.s3, bucket_field)
    try:
        _put(client, bucket)
        wrote = True
    except S3Error as exc:
        assert exc.code == "AccessDenied"
        wrote = False
    assert wrote is allowed


def test_the_evaluator_moves_aliases_but_writes_no_artifact(
    secure_settings: Settings, credentials: StackCredentials
) -> None:
    client = _client(secure_settings, credentials, "evaluator")
    models = secure_settings.s3.model_bucket
    alias = f"{secure_settings.s3.alias_prefix}/probe-{uuid.uuid4().hex}.json"
    client.put_object(models, alias, io.BytesIO(b"{}"), length=2)  # promoting moves aliases
    with pytest.raises(S3Error) as refused:
        client.put_object(models, f"sha256/{uuid.uuid4().hex}", io.BytesIO(b"x"), length=1)
    assert refused.value.code == "AccessDenied"
