"""Analysts: ``arena models | history`` (with drift detections), as a table, JSON or CSV."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from arena.cli.ops_cmd import control_plane
from arena.cli.output import OutputFormat, echo_csv, echo_json

if TYPE_CHECKING:
    from storage.domain import DriftRecord, ModelVersion
    from storage.registry import Registry

console = Console()

_MODEL_CSV_FIELDS = (
    "version", "flavor", "status", "serving", "parent", "artifact_uri", "sha256", "size",
    "accuracy", "samples", "created_at",
)  # fmt: skip
_HISTORY_FIELDS = (
    "id", "version_id", "metric", "value", "sample_count", "role",
    "window_start", "window_end", "computed_at",
)  # fmt: skip


def model_records(
    registry: Registry, versions: list[ModelVersion], serving: ModelVersion | None
) -> list[dict[str, Any]]:
    """Each version with its lineage, artifact (URI, sha256, size) and latest metrics."""
    records = []
    for v in versions:
        metrics = registry.latest_metrics(v.id)
        records.append(
            {
                "version": v.id,
                "flavor": v.flavor,
                "status": v.status.value,
                "serving": serving is not None and serving.id == v.id,
                "parent": v.parent_id,
                "artifact_uri": v.artifact.uri,
                "sha256": v.artifact.sha256,
                "size": v.artifact.size,
                "training_ranges": [dataclasses.asdict(r) for r in v.training_ranges],
                "hyperparameters": v.hyperparameters,
                "latest_metrics": metrics,
                "accuracy": metrics.get("accuracy"),
                "samples": int(v.hyperparameters.get("samples", 0)) or None,
                "created_at": v.created_at.isoformat(),
            }
        )
    return records


def _models_table(versions: list[ModelVersion], records: list[dict[str, Any]]) -> Table:
    table = Table("version", "flavor", "status", "parent", "trained on", "accuracy", "samples")
    table.add_column("created")
    for v, record in zip(versions, records, strict=True):
        ranges = ", ".join(
            f"{r.topic}[{r.partition}]@{r.first}-{r.last}" for r in v.training_ranges[:3]
        )
        if len(v.training_ranges) > 3:
            ranges += f" (+{len(v.training_ranges) - 3})"
        acc = record["accuracy"]
        table.add_row(
            str(v.id),
            v.flavor,
            f"{v.status}{' (serving)' if record['serving'] else ''}",
            str(v.parent_id or "-"),
            ranges or "-",
            f"{acc:.4f}" if acc is not None else "-",
            str(record["samples"] or "-"),
            v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    return table


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_cmd(
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format"),
    ) -> None:
        """List the versions with their lineage, artifact and latest metrics."""
        with control_plane() as control:
            registry = control.registry
            versions = registry.list_versions()
            records = model_records(registry, versions, registry.serving_version())
        if fmt is OutputFormat.json:
            echo_json(records)
        elif fmt is OutputFormat.csv:
            echo_csv(records, _MODEL_CSV_FIELDS)
        else:
            console.print(_models_table(versions, records))

    @app.command("history")
    def history_cmd(
        version: int | None = typer.Option(None, "--version"),
        metric: str | None = typer.Option("accuracy", "--metric", help="'' for all metrics."),
        since: datetime | None = typer.Option(
            None, "--since", help="From this time (inclusive), ISO 8601."
        ),
        until: datetime | None = typer.Option(
            None, "--until", help="Before this time (exclusive), ISO 8601."
        ),
        limit: int = typer.Option(50, "--limit", min=1),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format"),
        drift: bool = typer.Option(
            False, "--drift", help="The drift detections in the range instead of the scores."
        ),
    ) -> None:
        """The score history (metric per version per window): the most recent --limit points
        in the time range, in time order. The table also lists the drift detections of the
        range; --drift lists only those (in any format)."""
        from storage.drift_log import DriftLog

        with control_plane() as control:
            detections = DriftLog(control.registry.engine).recent(
                since=since, until=until, limit=limit
            )
            if drift:
                _print_drifts(list(reversed(detections)), fmt)
                return
            rows = control.registry.history(
                version_id=version, metric=metric or None, since=since, until=until, limit=limit
            )
        records = _records(rows)
        if fmt is OutputFormat.json:
            echo_json(records)
        elif fmt is OutputFormat.csv:
            echo_csv(records, _HISTORY_FIELDS)
        else:
            table = Table("computed at", "version", "role", "metric", "value", "samples")
            for e in rows:
                table.add_row(
                    e.computed_at.strftime("%Y-%m-%d %H:%M:%S"),
                    str(e.version_id),
                    e.role,
                    e.metric,
                    f"{e.value:.4f}",
                    str(e.sample_count),
                )
            console.print(table)
            if detections:
                _print_drifts(list(reversed(detections)), fmt)


_DRIFT_FIELDS = (
    "id", "detected_at", "detector", "statistic", "value_before", "value_after", "labeled",
    "event_topic", "event_partition", "event_offset", "boundary", "champion_version",
)  # fmt: skip


def _print_drifts(detections: list[DriftRecord], fmt: OutputFormat) -> None:
    """Drift detections, oldest first."""
    records = _records(detections)
    if fmt is OutputFormat.json:
        echo_json(records)
        return
    if fmt is OutputFormat.csv:
        echo_csv([r | {"boundary": json.dumps(r["boundary"])} for r in records], _DRIFT_FIELDS)
        return
    table = Table(title="drift detections")
    table.add_column("detected at", no_wrap=True)
    table.add_column("detector", no_wrap=True)
    for name in ("before", "after", "partition@offset", "champion"):
        table.add_column(name)
    for d in detections:
        table.add_row(
            d.detected_at.strftime("%Y-%m-%d %H:%M:%S") if d.detected_at else "",
            d.detector,
            f"{d.value_before:.4g}",
            f"{d.value_after:.4g}",
            f"{d.event_partition}@{d.event_offset}",
            "" if d.champion_version is None else str(d.champion_version),
        )
    console.print(table)


def _records(items: Sequence[Any]) -> list[dict[str, Any]]:
    """Dataclass rows as plain dicts for JSON and CSV, times in ISO 8601."""
    return [
        {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in dataclasses.asdict(item).items()
        }
        for item in items
    ]
