"""Alembic environment and the hand-written revisions of the registry schema."""
