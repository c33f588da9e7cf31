"""Registered versions into memory, the one way every service does it.

Check what was asked for against the registry, check the version's signature (made with
the deployment's signing key, which neither PostgreSQL nor MinIO holds), download the
artifact (its sha256 verified on the way, so the bytes are the signed ones), and only then
deserialize it, with the input shape every service decodes images to. The scorer, the
trainer, the evaluator and the benchmark all load through ``ModelLoader``. The scorer may
ask for a version's ONNX form (``runtime``): checked and signed alike, under its own
signature (flavor ``onnx``), and then no TensorFlow is imported.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from arena.errors import ArtifactIntegrityError, ModelLoadError
from arena.flavors import INPUT_SHAPE, ModelFlavor, load_model
from arena.flavors.base import ServingModel
from arena.flavors.onnx_model import DEFAULT_THREADS, ONNX_FLAVOR, OnnxModel
from arena.signing import ArtifactSigner
from storage.artifacts import ArtifactStore
from storage.domain import ModelVersion
from storage.registry import Registry

Runtime = Literal["auto", "onnx", "native"]
"""What serves a version: its ONNX form when it has one ("auto"), only ONNX, or native."""


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A registered version in memory: its id, flavor, native artifact hash, the model, and
    what runs it ("native", or "onnx" for its ONNX form under ONNX Runtime)."""

    version: int
    flavor: str
    sha256: str
    model: ServingModel
    runtime: str = "native"


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
        onnx_threads: int = DEFAULT_THREADS,
    ):
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0")
        self._registry = registry
        self._store = store
        self._signer = signer
        self._cache_size = cache_size
        self._onnx_threads = onnx_threads
        self._cache: OrderedDict[int, tuple[str, ModelFlavor]] = OrderedDict()

    def load(
        self,
        version_id: int,
        *,
        expected_sha256: str | None = None,
        runtime: Runtime = "native",
    ) -> LoadedModel:
        """Load ``version_id`` as the registry records it, to serve with ``runtime``.

        Raises:
            ArtifactIntegrityError: ``expected_sha256`` (what a control event announced)
                differs from the registry's, or the downloaded bytes do not match it.
            UntrustedArtifact: (an ArtifactIntegrityError) the version (or its ONNX form)
                is not signed with this deployment's key; nothing was downloaded or
                deserialized.
            UnknownVersion: no such version.
            ModelLoadError: the artifact cannot be loaded with the input shape, or
                ``runtime`` is "onnx" and the version has no ONNX form.
        """
        version = self._registry.get_version(version_id)
        if expected_sha256 is not None and version.artifact.sha256 != expected_sha256:
            raise ArtifactIntegrityError(
                f"version {version_id}: control event says sha256 {expected_sha256}, "
                f"the registry recorded {version.artifact.sha256}"
            )
        if runtime != "native" and version.onnx is not None:
            return LoadedModel(
                version.id, version.flavor, version.artifact.sha256, self._onnx(version), "onnx"
            )
        if runtime == "onnx":
            raise ModelLoadError(
                f"version {version.id} ({version.flavor}) has no ONNX form, and this scorer "
                "serves only ONNX (ARENA_SCORER_RUNTIME=onnx)"
            )
        return LoadedModel(version.id, version.flavor, version.artifact.sha256, self.model(version))

    def model(self, version: ModelVersion) -> ModelFlavor:
        """The native model of a version already read from the registry."""
        artifact = version.artifact
        self._signer.verify(
            version.flavor,
            artifact.sha256,
            artifact.size,
            version.signature,
            what=f"version {version.id}",
        )
        cached = self._cache.get(version.id)
        if cached is not None and cached[0] == artifact.sha256:
            self._cache.move_to_end(version.id)
            return cached[1]
        # sha256 and size verified on every download: these are the bytes that were signed.
        data = self._store.get(artifact)
        model = load_model(version.flavor, data, expected_input_shape=INPUT_SHAPE)
        if self._cache_size:
            self._cache[version.id] = (artifact.sha256, model)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return model

    def _onnx(self, version: ModelVersion) -> OnnxModel:
        artifact = version.onnx
        assert artifact is not None
        self._signer.verify(
            ONNX_FLAVOR,
            artifact.sha256,
            artifact.size,
            version.onnx_signature,
            what=f"version {version.id}'s ONNX form",
        )
        data = self._store.get(artifact)
        return OnnxModel.from_bytes(
            data, expected_input_shape=INPUT_SHAPE, threads=self._onnx_threads
        )
