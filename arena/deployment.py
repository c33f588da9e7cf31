"""A deployment of its own on shared servers: its own topics, consumer groups and database.

Each demo run, bench phase and integration test gets one, so runs never mix. ``QUICK_LOOP``
is the pace the demo runs the learning loop at (fine-tunes every 1,000 labels, an
evaluation round every 2 s), which the tests and the bench reuse.
"""

from __future__ import annotations

from typing import Any

from arena.config import Settings, with_overrides

QUICK_LOOP: dict[str, dict[str, Any]] = {
    "scorer": {"batch_timeout_ms": 50},
    "trainer": {
        "finetune_every_labels": 1_000,
        "window_size": 3_000,
        "reservoir_size": 1_000,
        "epochs": 2,
    },
    "evaluator": {
        "min_samples": 60,
        "window_size": 600,
        "interval_s": 2.0,
        "probation_labels": 300,
    },
}


def isolated_deployment(
    base: Settings, prefix: str, database: str, tuning: dict[str, dict[str, Any]] | None = None
) -> Settings:
    """``base`` with topics and consumer groups named ``<prefix>.*`` and its own database.

    Args:
        base: the settings to start from (servers, credentials).
        prefix: the deployment's name, e.g. ``arena.demo-1a2b3c4d``.
        database: the PostgreSQL database of its registry.
        tuning: further per-section overrides (``QUICK_LOOP`` when None).
    """
    tuning = QUICK_LOOP if tuning is None else tuning
    own: dict[str, dict[str, Any]] = {
        "kafka": {
            "image_topic": f"{prefix}.images",
            "label_topic": f"{prefix}.labels",
            "prediction_topic": f"{prefix}.predictions",
            "model_topic": f"{prefix}.models",
            "scorer_status_topic": f"{prefix}.scorer-status",
        },
        "db": {"name": database},
        "s3": {"alias_prefix": f"aliases/{prefix.replace('.', '_')}"},
        "scorer": {"group_id": f"{prefix}-scorer"},
        "trainer": {"group_id": f"{prefix}-trainer"},
        "evaluator": {"group_id": f"{prefix}-evaluator"},
    }
    sections = {name: {**tuning.get(name, {}), **own.get(name, {})} for name in {*own, *tuning}}
    return with_overrides(base, **sections)
