"""Two deployments sharing MinIO's model bucket keep their own champion alias."""

from __future__ import annotations

import uuid

import pytest

from arena.config import Settings
from storage.artifacts import ArtifactStore


def test_two_deployments_do_not_overwrite_each_others_aliases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = uuid.uuid4().hex[:8]
    monkeypatch.setenv("ARENA_DEPLOYMENT", f"blue_{run}")
    blue = Settings()
    monkeypatch.setenv("ARENA_DEPLOYMENT", f"green_{run}")
    green = Settings()
    assert blue.s3.model_bucket == green.s3.model_bucket  # the same bucket, on the same server
    with ArtifactStore(blue.s3) as blue_store, ArtifactStore(green.s3) as green_store:
        blue_ref = blue_store.put(b"blue model " + run.encode())
        green_ref = green_store.put(b"green model " + run.encode())
        blue_store.alias("champion", blue_ref)
        assert green_store.resolve_alias("champion") is None
        green_store.alias("champion", green_ref)
        assert blue_store.resolve_alias("champion") == blue_ref
        assert green_store.resolve_alias("champion") == green_ref
