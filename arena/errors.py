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


def reason_of(exc: BaseException) -> str:
    """Why an event is poison, for the DLQ's ``error`` header.

    An InvalidEvent's own reason; for anything else raised while handling one event (a
    library refusing its input: ``ValueError``, ``NotImplementedError``, ...) its type and
    message, so the dead letter names the exact failure.
    """
    if isinstance(exc, InvalidEvent):
        return exc.reason
    return f"{type(exc).__name__}: {exc}"


class InfrastructureUnavailable(ArenaError):
    """A server Arena depends on (the object store) cannot be reached or failed on its side.

    Connection refused, timeouts, HTTP 5xx, throttling, rejected service credentials: the
    event that needed it is not at fault, so this is never poison. The batch is aborted,
    rewound and retried after a back-off.
    """


class ArtifactIntegrityError(ArenaError):
    """A downloaded model artifact does not match the sha256 (or size) the registry recorded."""


class ModelLoadError(ArenaError):
    """A model artifact could not be turned into a servable model (corrupt, wrong shape, ...)."""


class ModelExportError(ArenaError):
    """A model could not be converted to ONNX, or its ONNX form disagrees with it."""


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


class UntrustedArtifact(ArtifactIntegrityError):
    """A model artifact whose signature is missing or was not made with this deployment's key.

    Only a holder of ``ARENA_SIGNING_KEY`` (the services, the operator's ``arena bootstrap``)
    can sign; a version registered by anyone else is refused before any byte is deserialized.
    """
