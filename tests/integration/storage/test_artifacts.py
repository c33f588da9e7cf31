"""Artifacts and images against the real MinIO: content addressing, integrity, aliases."""

from __future__ import annotations

import hashlib
import io

import pytest

from arena.config import ObjectStoreSettings
from arena.errors import ArtifactIntegrityError
from storage.artifacts import ArtifactStore, parse_s3_uri
from storage.domain import ArtifactRef
from storage.errors import ArtifactNotFound
from tests.integration.storage.conftest import raw_minio


def test_put_is_content_addressed_and_idempotent(artifact_store: ArtifactStore) -> None:
    data = b"model weights v1"
    digest = hashlib.sha256(data).hexdigest()

    ref = artifact_store.put(data)
    again = artifact_store.put(data)

    assert ref == again
    assert ref.uri.endswith(f"/sha256/{digest}")
    assert (ref.sha256, ref.size) == (digest, len(data))
    assert artifact_store.get(ref) == data
    assert artifact_store.get(ref.uri, digest, len(data)) == data


def test_tampered_artifact_is_refused(
    artifact_store: ArtifactStore, object_store_settings: ObjectStoreSettings
) -> None:
    ref = artifact_store.put(b"the real model")
    bucket, key = parse_s3_uri(ref.uri)
    forged = b"a forged model"
    raw_minio(object_store_settings).put_object(bucket, key, io.BytesIO(forged), len(forged))

    with pytest.raises(ArtifactIntegrityError) as refused:
        artifact_store.get(ref)

    message = str(refused.value)
    assert ref.sha256 in message
    assert hashlib.sha256(forged).hexdigest() in message
    # Putting the real bytes again repairs the object, since its recorded hash is gone.
    assert artifact_store.get(artifact_store.put(b"the real model")) == b"the real model"


def test_size_mismatch_is_refused(artifact_store: ArtifactStore) -> None:
    ref = artifact_store.put(b"twelve bytes")

    with pytest.raises(ArtifactIntegrityError, match="13"):
        artifact_store.get(ArtifactRef(ref.uri, ref.sha256, 13))


def test_missing_artifact_and_missing_hash_are_clear_errors(artifact_store: ArtifactStore) -> None:
    ref = artifact_store.put(b"exists")
    absent = ref.uri.rsplit("/", 1)[0] + "/" + "0" * 64

    with pytest.raises(ArtifactNotFound, match="does not exist"):
        artifact_store.get(absent, "0" * 64)
    with pytest.raises(ValueError, match="expected sha256"):
        artifact_store.get(ref.uri)


def test_alias_points_at_the_latest_ref(artifact_store: ArtifactStore) -> None:
    assert artifact_store.resolve_alias("champion-never-set") is None
    first, second = artifact_store.put(b"first"), artifact_store.put(b"second")

    artifact_store.alias("champion", first)
    artifact_store.alias("champion", second)

    assert artifact_store.resolve_alias("champion") == second
    with pytest.raises(ValueError, match="single path segments"):
        artifact_store.alias("../champion", first)


def test_images_round_trip_in_order(artifact_store: ArtifactStore) -> None:
    images = {f"batch-1/{i:03d}.png": bytes([i]) * (i + 1) for i in range(20)}
    uris = [artifact_store.put_image(k, v, "image/png") for k, v in images.items()]

    assert artifact_store.get_images(list(images)) == list(images.values())
    assert artifact_store.get_images(uris[:3]) == list(images.values())[:3]
    with pytest.raises(ArtifactNotFound):
        artifact_store.get_images(["batch-1/missing.png"])
