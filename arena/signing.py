"""Signed model artifacts: who may make every service deserialize a model.

The registry and the bucket are not a root of trust on their own: anyone holding their
credentials could register a version and upload a pickle. So whatever registers a version
(the trainer, ``arena bootstrap``, the benchmark) signs it with an HMAC-SHA256 key that
lives only in the services' environment (``ARENA_SIGNING_KEY``, never in PostgreSQL or
MinIO), and every loader checks the signature before a single byte is deserialized.

The signature covers what identifies the artifact independently of its version id (which
PostgreSQL assigns only after the row exists): its sha256, its size and its flavor. The
loader then checks the downloaded bytes against that sha256, so a valid signature vouches
for exactly those bytes, loaded as exactly that flavor.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr

from arena.errors import UntrustedArtifact

SIGNATURE_SCHEME = "hmac-sha256/1"
"""The prefix of every signature, so a future scheme can be told apart from this one."""


def _message(flavor: str, sha256: str, size: int) -> bytes:
    # Newline-separated: none of the fields may contain one (flavor is a registry name,
    # sha256 is hex, size an integer), so two different triples never give one message.
    if "\n" in flavor:
        raise ValueError(f"invalid flavor name {flavor!r}")
    return f"arena-artifact\n{SIGNATURE_SCHEME}\n{flavor}\n{sha256.lower()}\n{size}".encode()


class ArtifactSigner:
    """Signs and verifies artifacts with one deployment's key."""

    def __init__(self, key: SecretStr) -> None:
        secret = key.get_secret_value().encode()
        if not secret:
            raise ValueError("the signing key is empty")
        self._key = secret

    def sign(self, flavor: str, sha256: str, size: int) -> str:
        """The signature to store with a version of this flavor, artifact hash and size."""
        digest = hmac.new(self._key, _message(flavor, sha256, size), hashlib.sha256)
        return f"{SIGNATURE_SCHEME}:{digest.hexdigest()}"

    def verify(self, flavor: str, sha256: str, size: int, signature: str, *, what: str) -> None:
        """Raise UntrustedArtifact unless ``signature`` is this key's for these fields.

        ``what`` names the artifact in the error (e.g. ``version 7``).
        """
        if not signature:
            raise UntrustedArtifact(f"{what} is not signed: refusing to load it")
        expected = self.sign(flavor, sha256, size)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise UntrustedArtifact(
                f"{what} has a signature not made with this deployment's signing key "
                f"(ARENA_SIGNING_KEY): refusing to load it"
            )

    def __repr__(self) -> str:
        return "ArtifactSigner(key=**********)"
