"""Registered versions into memory, the one way every service does it.

Check what was asked for against the registry, check the version's signature (made with
the deployment's signing key, which neither PostgreSQL nor MinIO holds), download the
artifact (its sha256 verified on the way, so the bytes are the signed ones), and only then
deserialize it, with the input shape every service decodes images to. The scorer, the
trainer, the evaluator and the benchmark all load through ``ModelLoader``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from arena.errors import ArtifactIntegrityError
from arena.flavors import INPUT_SHAPE, ModelFlavor, load_model
from arena.signing import ArtifactSigner
from storage.artifacts import ArtifactStore
from storage.domain import ModelVersion
from storage.registry import Registry


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A registered version in memory: its id, flavor, artifact hash, and the model."""

    version: int
    flavor: str
    sha256: str
    model: ModelFlavor


class ModelLoader:
    """Loads registered versions; keeps the ``cache_size`` most recently used in memory.

    Artifacts are immutable, so a cached model never goes stale. The scorer uses
    ``cache_size=0``: it holds the model it serves itself, and a cache would keep retired
    models alive.
    """

    def __init__(
        self,
        registry: Registry,
        store: ArtifactStore,
        signer: ArtifactSigner,
        *,
        cache_size: int = 4,
    ):
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0")
        self._registry = registry
        self._store = store
        self._signer = signer
        self._cache_size = cache_size
        self._cache: OrderedDict[int, LoadedModel] = OrderedDict()

    def load(self, version_id: int, *, expected_sha256: str | None = None) -> LoadedModel:
        """Load ``version_id`` as the registry records it.

        Raises:
            ArtifactIntegrityError: ``expected_sha256`` (what a control event announced)
                differs from the registry's, or the downloaded bytes do not match it.
            UntrustedArtifact: (an ArtifactIntegrityError) the version is not signed with
                this deployment's key; nothing was downloaded or deserialized.
            UnknownVersion: no such version.
            ModelLoadError: the artifact cannot be loaded with the input shape.
        """
        version = self._registry.get_version(version_id)
        if expected_sha256 is not None and version.artifact.sha256 != expected_sha256:
            raise ArtifactIntegrityError(
                f"version {version_id}: control event says sha256 {expected_sha256}, "
                f"the registry recorded {version.artifact.sha256}"
            )
        return self._loaded(version)

    def model(self, version: ModelVersion) -> ModelFlavor:
        """The model of a version already read from the registry."""
        return self._loaded(version).model

    def _loaded(self, version: ModelVersion) -> LoadedModel:
        artifact = version.artifact
        self._signer.verify(
            version.flavor,
            artifact.sha256,
            artifact.size,
            version.signature,
            what=f"version {version.id}",
        )
        cached = self._cache.get(version.id)
        if cached is not None and cached.sha256 == version.artifact.sha256:
            self._cache.move_to_end(version.id)
            return cached
        # sha256 and size verified on every download: these are the bytes that were signed.
        data = self._store.get(artifact)
        model = load_model(version.flavor, data, expected_input_shape=INPUT_SHAPE)
        loaded = LoadedModel(version.id, version.flavor, version.artifact.sha256, model)
        if self._cache_size:
            self._cache[version.id] = loaded
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return loaded
