"""Loading registered versions into memory once, by version id (artifacts are immutable)."""

from __future__ import annotations

from arena.flavors import ModelFlavor, load_model
from storage.artifacts import ArtifactStore
from storage.domain import ModelVersion

INPUT_SHAPE = (28, 28)


class ModelCache:
    """Verified, loaded models keyed by version id; keeps the few most recently used."""

    def __init__(self, store: ArtifactStore, capacity: int = 4) -> None:
        self._store = store
        self._capacity = capacity
        self._models: dict[int, ModelFlavor] = {}

    def get(self, version: ModelVersion) -> ModelFlavor:
        model = self._models.pop(version.id, None)
        if model is None:
            data = self._store.get(version.artifact)  # sha256 verified on every download
            model = load_model(version.flavor, data, expected_input_shape=INPUT_SHAPE)
        self._models[version.id] = model  # re-insert: most recently used last
        while len(self._models) > self._capacity:
            del self._models[next(iter(self._models))]
        return model
