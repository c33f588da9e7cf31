"""Registering a new version, the one way: artifacts up first, signed, then the row.

Whoever registers a model (the trainer, ``arena bootstrap``, the benchmark) calls
``VersionPublisher.publish``. It uploads the native artifact, and for a flavor with an ONNX
form exports it, checks its parity with the model on real images (``arena.onnx_parity``)
and uploads it only when they agree. Both are signed with the deployment's key, and only
then is the version registered, so a registry row never points at a missing object.
A failed export or parity check never fails the registration: the version is served
natively, and the reason is recorded with it (``onnx_parity``) and logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from arena.errors import ModelExportError, ModelLoadError
from arena.flavors import INPUT_SHAPE, ModelFlavor
from arena.flavors.base import F32Images
from arena.flavors.onnx_model import ONNX_FLAVOR, OnnxModel
from arena.onnx_parity import check_parity, parity_images
from arena.signing import ArtifactSigner
from storage.artifacts import ArtifactStore
from storage.domain import ArtifactRef, ModelVersion, OffsetRange
from storage.registry import Registry

log = logging.getLogger(__name__)


class VersionPublisher:
    """Uploads, signs and registers versions; exports ONNX forms when ``export_onnx``."""

    def __init__(
        self,
        registry: Registry,
        store: ArtifactStore,
        signer: ArtifactSigner,
        *,
        export_onnx: bool = True,
        parity_set: F32Images | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.signer = signer
        self.export_onnx = export_onnx
        self._parity_set = parity_set
        self.onnx_refusals = 0  # exports refused (converter failure or disagreement)

    def publish(
        self,
        flavor: str,
        model: ModelFlavor,
        *,
        parent_id: int | None,
        training_ranges: Iterable[OffsetRange],
        hyperparameters: dict[str, Any],
    ) -> ModelVersion:
        ref = self.store.put(model.to_bytes())
        onnx, parity = self._onnx_form(model) if self.export_onnx else (None, None)
        return self.registry.register_version(
            flavor,
            ref,
            parent_id=parent_id,
            training_ranges=training_ranges,
            hyperparameters=hyperparameters,
            signature=self.signer.sign(flavor, ref.sha256, ref.size),
            onnx=onnx,
            onnx_signature=self.signer.sign(ONNX_FLAVOR, onnx.sha256, onnx.size) if onnx else "",
            onnx_parity=parity,
        )

    def _onnx_form(self, model: ModelFlavor) -> tuple[ArtifactRef | None, dict[str, Any] | None]:
        started = time.monotonic()
        try:
            data = model.to_onnx()
            if data is None:
                return None, None  # this flavor stays native
            served = OnnxModel.from_bytes(data, expected_input_shape=INPUT_SHAPE)
            if self._parity_set is None:
                self._parity_set = parity_images()
            parity = check_parity(model, served, self._parity_set)
        except Exception as exc:  # a converter's failure must never stop a registration
            self.onnx_refusals += 1
            expected = isinstance(exc, ModelExportError | ModelLoadError)
            log.warning(
                "no ONNX form for this %s version, it is served natively: %r",
                model.name,
                exc,
                exc_info=not expected,
            )
            return None, {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
        record = parity.as_record() | {"export_s": round(time.monotonic() - started, 3)}
        if not parity.ok:
            self.onnx_refusals += 1
            log.warning("ONNX form refused, the version is served natively: %s", parity.describe())
            return None, record | {"reason": parity.describe()}
        return self.store.put(data), record
