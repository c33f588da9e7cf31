"""The one loader refuses an unsigned or forged version before it downloads or
deserializes a single byte of it."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from arena.errors import UntrustedArtifact
from arena.flavors import new_model
from arena.signing import ArtifactSigner
from storage.domain import ArtifactRef, ModelVersion, VersionStatus
from storage.model_loader import ModelLoader

KEY = SecretStr("service-key-" * 3)


class Payload:
    """Unpickling this creates a file: proof that attacker code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@dataclass
class FakeRegistry:
    versions: dict[int, ModelVersion] = field(default_factory=dict)

    def get_version(self, version_id: int) -> ModelVersion:
        return self.versions[version_id]


@dataclass
class FakeStore:
    blobs: dict[str, bytes] = field(default_factory=dict)
    reads: int = 0

    def get(self, ref: ArtifactRef) -> bytes:
        self.reads += 1
        return self.blobs[ref.uri]


def register(
    registry: FakeRegistry, store: FakeStore, flavor: str, data: bytes, signature: str
) -> ModelVersion:
    digest = hashlib.sha256(data).hexdigest()
    ref = ArtifactRef(f"s3://m/sha256/{digest}", digest, len(data))
    store.blobs[ref.uri] = data
    version = ModelVersion(
        id=len(registry.versions) + 1,
        flavor=flavor,
        artifact=ref,
        parent_id=None,
        training_ranges=(),
        hyperparameters={},
        created_at=datetime.now(UTC),
        status=VersionStatus.CANDIDATE,
        signature=signature,
    )
    registry.versions[version.id] = version
    return version


def loader(registry: FakeRegistry, store: FakeStore) -> ModelLoader:
    return ModelLoader(registry, store, ArtifactSigner(KEY))  # type: ignore[arg-type]


def test_a_signed_version_loads() -> None:
    registry, store = FakeRegistry(), FakeStore()
    data = new_model("river").to_bytes()
    digest = hashlib.sha256(data).hexdigest()
    signature = ArtifactSigner(KEY).sign("river", digest, len(data))
    version = register(registry, store, "river", data, signature)
    assert loader(registry, store).load(version.id).model.name == "river"


@pytest.mark.parametrize("signature", ["", "hmac-sha256/1:" + "0" * 64, "forged-by-the-dba"])
def test_an_unsigned_or_forged_pickle_is_never_unpickled(tmp_path: Path, signature: str) -> None:
    marker = tmp_path / "pwned"
    registry, store = FakeRegistry(), FakeStore()
    version = register(registry, store, "river", pickle.dumps(Payload(marker)), signature)
    with pytest.raises(UntrustedArtifact):
        loader(registry, store).load(version.id, expected_sha256=version.artifact.sha256)
    assert store.reads == 0, "nothing is even downloaded"
    assert not marker.exists()


def test_a_signature_made_with_another_key_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    registry, store = FakeRegistry(), FakeStore()
    data = pickle.dumps(Payload(marker))
    attacker = ArtifactSigner(SecretStr("attacker-guess-" * 3))
    signature = attacker.sign("river", hashlib.sha256(data).hexdigest(), len(data))
    version = register(registry, store, "river", data, signature)
    with pytest.raises(UntrustedArtifact):
        loader(registry, store).model(version)
    assert not marker.exists()


def test_a_signature_moved_to_another_flavor_is_refused() -> None:
    registry, store = FakeRegistry(), FakeStore()
    data = new_model("river").to_bytes()
    digest = hashlib.sha256(data).hexdigest()
    signature = ArtifactSigner(KEY).sign("river", digest, len(data))
    version = register(registry, store, "sklearn", data, signature)
    with pytest.raises(UntrustedArtifact):
        loader(registry, store).load(version.id)
