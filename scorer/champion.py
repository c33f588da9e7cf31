"""The model a scorer serves, as state: swapped atomically between two batches.

The reloader thread prepares a new model in the background and stages it; the scoring loop
calls ``swap_if_staged`` at the start of each batch, so a batch is always scored by exactly
one version and no event is dropped or scored twice across a swap.
"""

from __future__ import annotations

import threading

from storage.model_loader import LoadedModel


class ChampionHolder:
    """Holds the serving model and at most one staged successor."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: LoadedModel | None = None
        self._staged: LoadedModel | None = None
        self._ready = threading.Event()

    def stage(self, model: LoadedModel) -> None:
        """Offer a loaded, warmed-up model; the loop swaps it in before its next batch."""
        with self._lock:
            if self._current is None:
                self._current = model
                self._ready.set()
            else:
                self._staged = model

    def swap_if_staged(self) -> tuple[LoadedModel | None, LoadedModel | None]:
        """Swap in the staged model, if any; returns (previous, new) when a swap happened."""
        with self._lock:
            if self._staged is None:
                return None, None
            previous, self._current, self._staged = self._current, self._staged, None
            return previous, self._current

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def wanted_version(self) -> int | None:
        """The version the scorer is serving or about to serve."""
        with self._lock:
            staged = self._staged or self._current
            return staged.version if staged else None

    def wait_ready(self, timeout_s: float) -> bool:
        """Block until a first model is being served."""
        return self._ready.wait(timeout_s)
