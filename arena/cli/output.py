"""How the CLI prints records: the ``--format`` choices and their CSV and JSON writers."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import typer


class OutputFormat(StrEnum):
    """``--format`` of ``models``, ``history`` and ``dlq list``; Typer refuses anything else."""

    table = "table"
    json = "json"
    csv = "csv"


class StatusFormat(StrEnum):
    """``arena status --format``: its nested lag table has no single CSV shape."""

    table = "table"
    json = "json"


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


def echo_csv(records: Sequence[dict[str, Any]], fieldnames: Sequence[str]) -> None:
    """One header line, then one line per record; nested values as compact JSON."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fieldnames), extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow(
            {
                k: json.dumps(v, separators=(",", ":")) if isinstance(v, dict | list) else v
                for k, v in record.items()
            }
        )
    typer.echo(out.getvalue().rstrip("\r\n"))
