"""Storage fixtures: a fresh, migrated database per module and throwaway buckets per session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from minio import Minio
from psycopg import sql
from sqlalchemy import Engine, text

from arena.config import DatabaseSettings, ObjectStoreSettings, Settings
from storage import migrate
from storage.artifacts import ArtifactStore
from storage.db import make_engine
from storage.registry import Registry


def _maintenance(db: DatabaseSettings) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=db.host,
        port=db.port,
        user=db.user,
        password=db.password.get_secret_value(),
        dbname="postgres",
        autocommit=True,
    )


@pytest.fixture(scope="module")
def empty_db(settings: Settings) -> Iterator[DatabaseSettings]:
    """A brand-new database with a random name, dropped after the module."""
    name = f"arena_test_{uuid.uuid4().hex[:12]}"
    with _maintenance(settings.db) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield settings.db.model_copy(update={"name": name})
    finally:
        with _maintenance(settings.db) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def storage_engine(empty_db: DatabaseSettings) -> Iterator[Engine]:
    """An engine on the module's database, migrated to head."""
    migrate.upgrade(empty_db)
    engine = make_engine(empty_db)
    yield engine
    engine.dispose()


@pytest.fixture
def registry(storage_engine: Engine) -> Registry:
    """A registry over empty tables (TRUNCATE is the one reset the append-only trigger allows)."""
    with storage_engine.begin() as conn:
        conn.execute(
            text("TRUNCATE pins, promotions, evaluations, model_versions RESTART IDENTITY CASCADE")
        )
    return Registry(storage_engine)


@pytest.fixture(scope="session")
def object_store_settings(settings: Settings) -> Iterator[ObjectStoreSettings]:
    """The stack's MinIO with buckets unique to this test run, removed afterwards."""
    run = uuid.uuid4().hex[:10]
    s3 = settings.s3.model_copy(
        update={"model_bucket": f"test-models-{run}", "image_bucket": f"test-images-{run}"}
    )
    yield s3
    client = raw_minio(s3)
    for bucket in (s3.model_bucket, s3.image_bucket):
        if not client.bucket_exists(bucket):
            continue
        for obj in client.list_objects(bucket, recursive=True):
            client.remove_object(bucket, obj.object_name)
        client.remove_bucket(bucket)


@pytest.fixture
def artifact_store(object_store_settings: ObjectStoreSettings) -> ArtifactStore:
    return ArtifactStore(object_store_settings)


def raw_minio(s3: ObjectStoreSettings) -> Minio:
    """A plain client, for tampering with objects behind the store's back."""
    return Minio(
        s3.endpoint,
        access_key=s3.access_key,
        secret_key=s3.secret_key.get_secret_value(),
        secure=s3.secure,
    )
