"""ONNX forms against the real PostgreSQL and MinIO: exported and parity-checked at
registration, signed, served by the loader, refused when they disagree or are forged."""

from __future__ import annotations

import io

import numpy as np
import pytest
from pydantic import SecretStr

from arena.config import ObjectStoreSettings
from arena.datasets import load_mnist
from arena.errors import ArtifactIntegrityError, ModelLoadError, UntrustedArtifact
from arena.flavors import ModelFlavor, new_model
from arena.images import to_unit_float
from arena.onnx_parity import parity_images
from arena.signing import ArtifactSigner
from storage.artifacts import ArtifactStore
from storage.model_loader import ModelLoader
from storage.publish import VersionPublisher
from storage.registry import Registry
from tests.integration.storage.conftest import raw_minio

KEY = SecretStr("onnx-test-key-" * 3)


def _trained(flavor: str, start: int = 0) -> ModelFlavor:
    data = load_mnist()
    model = new_model(flavor, seed=1)
    images = to_unit_float(data.x_train[start : start + 600])
    model.fit(
        images,
        data.y_train[start : start + 600],
        epochs=2,
        learning_rate=model.default_learning_rate,
    )
    return model


class Disagreeing:
    """A model whose ONNX form is another model's: what a converter bug would look like."""

    def __init__(self, model: ModelFlavor, onnx_of: ModelFlavor) -> None:
        self._model, self._other = model, onnx_of

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)

    def to_onnx(self) -> bytes | None:
        return self._other.to_onnx()


def _publish(
    registry: Registry, store: ArtifactStore, model: object
) -> tuple[int, VersionPublisher]:
    publisher = VersionPublisher(registry, store, ArtifactSigner(KEY))
    version = publisher.publish(
        "sklearn",
        model,  # type: ignore[arg-type]
        parent_id=None,
        training_ranges=(),
        hyperparameters={"test": True},
    )
    return version.id, publisher


@pytest.mark.parametrize("flavor", ["keras", "sklearn"])
def test_a_registered_version_carries_a_signed_onnx_form_the_scorer_serves(
    registry: Registry, artifact_store: ArtifactStore, flavor: str
) -> None:
    model = _trained(flavor)
    publisher = VersionPublisher(registry, artifact_store, ArtifactSigner(KEY))
    version = publisher.publish(
        flavor, model, parent_id=None, training_ranges=(), hyperparameters={}
    )

    assert version.onnx is not None and version.onnx.sha256 != version.artifact.sha256
    assert version.onnx_parity is not None and version.onnx_parity["ok"] is True
    assert version.onnx_parity["images"] == 1_000
    assert version.onnx_parity["argmax_disagreements"] == 0
    assert version.onnx_parity["max_abs_diff"] <= 1e-4
    loader = ModelLoader(registry, artifact_store, ArtifactSigner(KEY), cache_size=0)
    served = loader.load(version.id, expected_sha256=version.artifact.sha256, runtime="auto")
    native = loader.load(version.id, runtime="native")
    images = parity_images(200)

    assert (served.runtime, served.model.name) == ("onnx", "onnx")
    assert (native.runtime, native.model.name) == ("native", flavor)
    np.testing.assert_allclose(
        served.model.predict_proba(images), native.model.predict_proba(images), atol=1e-4
    )


def test_an_onnx_form_that_disagrees_is_not_registered_and_the_reason_is_kept(
    registry: Registry, artifact_store: ArtifactStore
) -> None:
    model = Disagreeing(_trained("sklearn"), onnx_of=_trained("sklearn", start=5_000))

    version_id, publisher = _publish(registry, artifact_store, model)
    version = registry.get_version(version_id)

    assert version.onnx is None and publisher.onnx_refusals == 1
    assert version.onnx_parity is not None and version.onnx_parity["ok"] is False
    assert "DISAGREE" in version.onnx_parity["reason"]
    loader = ModelLoader(registry, artifact_store, ArtifactSigner(KEY), cache_size=0)
    assert loader.load(version_id, runtime="auto").runtime == "native"
    with pytest.raises(ModelLoadError, match="ARENA_SCORER_RUNTIME=onnx"):
        loader.load(version_id, runtime="onnx")


def test_a_forged_onnx_signature_or_swapped_bytes_are_refused(
    registry: Registry, artifact_store: ArtifactStore, object_store_settings: ObjectStoreSettings
) -> None:
    version_id, _ = _publish(registry, artifact_store, _trained("sklearn"))
    version = registry.get_version(version_id)
    assert version.onnx is not None
    loader = ModelLoader(registry, artifact_store, ArtifactSigner(KEY), cache_size=0)

    # The native signature does not vouch for the ONNX bytes (signed as flavor "onnx").
    registry.set_signature(version_id, version.signature, onnx_signature=version.signature)
    with pytest.raises(UntrustedArtifact, match="ONNX form"):
        loader.load(version_id, runtime="auto")

    registry.set_signature(version_id, version.signature, onnx_signature=version.onnx_signature)
    bucket, _, key = version.onnx.uri.removeprefix("s3://").partition("/")
    other = _trained("sklearn", start=9_000).to_onnx()
    assert other is not None
    raw_minio(object_store_settings).put_object(bucket, key, io.BytesIO(other), len(other))
    with pytest.raises(ArtifactIntegrityError):
        loader.load(version_id, runtime="auto")


class BrokenConverter(Disagreeing):
    def to_onnx(self) -> bytes | None:
        raise RuntimeError("converter crashed")


def test_a_converter_that_crashes_never_stops_the_registration(
    registry: Registry, artifact_store: ArtifactStore
) -> None:
    model = _trained("sklearn")

    version_id, publisher = _publish(registry, artifact_store, BrokenConverter(model, model))
    version = registry.get_version(version_id)

    assert version.onnx is None and publisher.onnx_refusals == 1
    assert version.onnx_parity == {"ok": False, "reason": "RuntimeError: converter crashed"}
