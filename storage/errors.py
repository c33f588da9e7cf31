"""Errors the model registry raises when asked for something that contradicts its state."""

from __future__ import annotations

from arena.errors import ArenaError


class RegistryError(ArenaError):
    """A registry operation that cannot be applied (no champion to roll back, ...)."""


class UnknownVersion(RegistryError):
    """A model version id that the registry does not hold."""

    def __init__(self, version_id: int) -> None:
        super().__init__(f"unknown model version {version_id}")
        self.version_id = version_id


class ChampionChanged(RegistryError):
    """A champion change that expected another champion than the registry holds.

    The compare-and-set that makes operator actions safe to retry: the caller said which
    champion it acts on, and the registry has since moved on (or never was there).
    """


class NotServing(RegistryError):
    """A version announced to the scorers that the registry does not serve: neither the
    champion nor the pinned version (a candidate, a rejected one, a forged announcement)."""


class ArtifactNotFound(ArenaError, LookupError):
    """An object the caller expected in MinIO (artifact, alias target, image) is not there."""
