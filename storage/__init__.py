"""Persistence: the model registry in PostgreSQL and model artifacts in MinIO."""
