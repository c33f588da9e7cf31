"""``arena dlq list | show | replay``: dead letters, why they failed, and sending them back.

A replay is recorded in the DLQ's ledger topic ``<topic>.dlq.replayed`` in the same Kafka
transaction as the copies (``arena.bus.dlq_replay``), so replaying the same selection twice
sends nothing the second time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from arena.bus.dlq_replay import (
    DeadLetter,
    dlq_of,
    read_dead_letters,
    replay,
    replayed_letters,
)
from arena.cli.output import OutputFormat, echo_csv, echo_json
from arena.config import Settings

console = Console(highlight=False)
dlq_app = typer.Typer(help="Dead letters: list, show, replay.", no_args_is_help=True)

_FIELDS = (
    "dlq_topic", "partition", "offset", "timestamp", "origin_topic", "origin_partition",
    "origin_offset", "replayed", "error",
)  # fmt: skip


def _record(d: DeadLetter, replayed: bool) -> dict[str, Any]:
    return {
        "dlq_topic": d.topic,
        "partition": d.partition,
        "offset": d.offset,
        "timestamp": datetime.fromtimestamp(d.timestamp_ms / 1000, UTC).isoformat(),
        "origin_topic": d.origin_topic,
        "origin_partition": d.origin_partition,
        "origin_offset": d.origin_offset,
        "replayed": replayed,
        "error": d.error,
    }


def _dlq_topics(settings: Settings, topic: str | None) -> list[str]:
    k = settings.kafka
    if topic is not None:
        return [dlq_of(k, topic)]
    return [k.dlq_topic(k.image_topic), k.dlq_topic(k.label_topic)]


def select_letters(
    letters: list[DeadLetter],
    *,
    partition: int | None = None,
    first: int | None = None,
    last: int | None = None,
    reason: str | None = None,
) -> list[DeadLetter]:
    """The dead letters of ``partition`` (any when None) with ``first <= offset <= last``
    whose error contains ``reason`` (case-sensitive)."""
    return [
        d
        for d in letters
        if (partition is None or d.partition == partition)
        and (first is None or d.offset >= first)
        and (last is None or d.offset <= last)
        and (reason is None or reason in d.error)
    ]


def _parse_place(place: str) -> tuple[int, int]:
    partition, _, offset = place.partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        raise typer.BadParameter("a dead letter is PARTITION:OFFSET in its DLQ topic, e.g. 2:17")
    return int(partition), int(offset)


@dlq_app.command("list")
def list_cmd(
    topic: str | None = typer.Argument(
        None, help="The origin topic or its DLQ (default: the image and label DLQs)."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Only errors containing this."),
    limit: int = typer.Option(100, "--limit", min=1, help="Most dead letters shown per topic."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format"),
) -> None:
    """Dead letters with their reason and origin, oldest first in each partition."""
    settings = Settings()
    records = []
    for dlq in _dlq_topics(settings, topic):
        done = replayed_letters(settings.kafka, dlq)
        chosen = select_letters(read_dead_letters(settings.kafka, dlq), reason=reason)
        records += [_record(d, d.ledger_key in done) for d in chosen[:limit]]
    if fmt is OutputFormat.json:
        echo_json(records)
    elif fmt is OutputFormat.csv:
        echo_csv(records, _FIELDS)
    else:
        table = Table("dlq", "at", "time", "origin", "replayed", "error")
        for r in records:
            table.add_row(
                r["dlq_topic"],
                f"{r['partition']}:{r['offset']}",
                r["timestamp"][:19],
                f"{r['origin_topic']}[{r['origin_partition']}]@{r['origin_offset']}",
                "yes" if r["replayed"] else "no",
                escape(r["error"][:120]),
            )
        console.print(table)


@dlq_app.command("show")
def show_cmd(
    topic: str = typer.Argument(..., help="The origin topic or its DLQ."),
    place: str = typer.Argument(..., help="PARTITION:OFFSET in the DLQ topic."),
) -> None:
    """One dead letter: reason, origin, every header, its key and the start of its value."""
    settings = Settings()
    dlq = dlq_of(settings.kafka, topic)
    partition, offset = _parse_place(place)
    found = select_letters(
        read_dead_letters(settings.kafka, dlq), partition=partition, first=offset, last=offset
    )
    if not found:
        typer.secho(f"no dead letter at {dlq} {place}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    [d] = found
    replayed = replayed_letters(settings.kafka, dlq).get(d.ledger_key)
    value = d.value or b""
    shown = {
        **_record(d, replayed is not None),
        "replayed_to": None if replayed is None else f"{replayed.topic}[{replayed.partition}]",
        "key": (d.key or b"").decode(errors="replace"),
        "value_bytes": len(value),
        "value_head_hex": value[:64].hex(),
        "headers": {k: v.decode(errors="replace") for k, v in d.headers},
    }
    typer.echo(json.dumps(shown, indent=2))


@dlq_app.command("replay")
def replay_cmd(
    topic: str = typer.Argument(..., help="The origin topic or its DLQ."),
    partition: int | None = typer.Option(None, "--partition", help="DLQ partition (default all)."),
    first: int | None = typer.Option(None, "--from", help="First DLQ offset (inclusive)."),
    last: int | None = typer.Option(None, "--to", help="Last DLQ offset (inclusive)."),
    reason: str | None = typer.Option(None, "--reason", help="Errors containing this."),
    everything: bool = typer.Option(False, "--all", help="Every dead letter of the topic."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be replayed."),
    actor: str = typer.Option("operator", "--actor", help="Who (kept in the ledger)."),
) -> None:
    """Send chosen dead letters back to their origin topic and partition, once the cause is
    fixed. Letters replayed before (the ledger says so) are skipped, so a retry is safe."""
    if not everything and first is None and last is None and reason is None:
        raise typer.BadParameter("choose dead letters: --from/--to, --reason, or --all")
    settings = Settings()
    dlq = dlq_of(settings.kafka, topic)
    chosen = select_letters(
        read_dead_letters(settings.kafka, dlq),
        partition=partition,
        first=first,
        last=last,
        reason=reason,
    )
    if dry_run:
        done = replayed_letters(settings.kafka, dlq)
        todo = [d for d in chosen if d.ledger_key not in done]
        console.print(f"would replay {len(todo)}, {len(chosen) - len(todo)} replayed before")
        for d in todo:
            console.print(f"  {d.ledger_key} -> {d.origin_topic}[{d.origin_partition}]")
        return
    try:
        now, before = replay(settings.kafka, dlq, chosen, actor=actor)
    except ValueError as exc:  # a letter without origin headers: nothing was written
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc
    for r in now:
        console.print(f"replayed {dlq} {r.letter} -> {r.topic}[{r.partition}]@{r.offset}")
    console.print(f"replayed {len(now)}, skipped {len(before)} replayed before")


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")
