"""Artifact signatures: only the key's holder can make one, and any change breaks it."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from arena.errors import UntrustedArtifact
from arena.signing import ArtifactSigner

SHA = "ab" * 32
KEY = SecretStr("k" * 32)


def test_a_signature_verifies_with_the_same_key() -> None:
    signer = ArtifactSigner(KEY)
    signature = signer.sign("river", SHA, 1234)
    assert signature.startswith("hmac-sha256/1:")
    signer.verify("river", SHA, 1234, signature, what="version 1")
    signer.verify("river", SHA.upper(), 1234, signature, what="version 1")  # hex case


@pytest.mark.parametrize(
    ("flavor", "sha256", "size"),
    [("sklearn", SHA, 1234), ("river", "cd" * 32, 1234), ("river", SHA, 1235)],
)
def test_any_changed_field_breaks_the_signature(flavor: str, sha256: str, size: int) -> None:
    signer = ArtifactSigner(KEY)
    signature = signer.sign("river", SHA, 1234)
    with pytest.raises(UntrustedArtifact, match="not made with this deployment's signing key"):
        signer.verify(flavor, sha256, size, signature, what="version 1")


def test_another_key_or_no_signature_is_refused() -> None:
    forged = ArtifactSigner(SecretStr("attacker-" * 4)).sign("river", SHA, 10)
    with pytest.raises(UntrustedArtifact, match="version 3 has a signature not made"):
        ArtifactSigner(KEY).verify("river", SHA, 10, forged, what="version 3")
    with pytest.raises(UntrustedArtifact, match="version 3 is not signed"):
        ArtifactSigner(KEY).verify("river", SHA, 10, "", what="version 3")


def test_the_key_never_shows_in_repr() -> None:
    assert "k" * 8 not in repr(ArtifactSigner(KEY))


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        ArtifactSigner(SecretStr(""))
