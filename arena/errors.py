"""The error types Arena raises on purpose, so callers can decide a message's fate."""

from __future__ import annotations


class ArenaError(Exception):
    """Base class of every error Arena raises deliberately."""


class InvalidEvent(ArenaError):
    """A Kafka record that cannot be decoded or fails validation (poison: goes to the DLQ).

    ``reason`` is a short, human-readable cause that ends up in the DLQ's ``error`` header.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ArtifactIntegrityError(ArenaError):
    """A downloaded model artifact does not match the sha256 (or size) the registry recorded."""


class ModelLoadError(ArenaError):
    """A model artifact could not be turned into a servable model (corrupt, wrong shape, ...)."""


class ConfigError(ArenaError):
    """A setting is missing or wrong; the message names it (e.g. ``ARENA_KAFKA_BOOTSTRAP``)."""


class StackError(ArenaError):
    """A local server could not be installed, started or reached."""


class MissingToolError(StackError):
    """A tool the local stack needs (java, mvn, go, pg_ctl) is not on this machine."""


class BusError(ArenaError):
    """A Kafka client or broker error.

    ``retriable`` tells the caller whether backing off and trying again can succeed; when it
    is false the client (or the whole service) must be recreated.
    """

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


class DeliveryError(BusError):
    """Records the broker did not acknowledge; the message names each topic and its error."""


class BatchAborted(BusError):
    """A batch's Kafka transaction was aborted and the consumer rewound: retry after a back-off."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retriable=True)
