"""``arena status``: the fleet at a glance, with an exit code scripts can test.

Exit code 0: every scorer serves the registry's serving version. 1: the fleet is split
across versions, or a scorer refused a version, serves one that outputs NaN, or still
serves an older version than the registry's (stuck), or no scorer was heard from in 3
heartbeats. 2: Kafka or PostgreSQL did not answer. A stale scorer (no status in 3
heartbeats) is listed as such and left out of the other checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from arena.api.fleet import FleetView
from arena.bus.lag import PartitionLag, consumer_lag
from arena.cli.output import StatusFormat, echo_json
from arena.config import KafkaSettings, Settings
from arena.errors import BusError
from arena.events import ScorerStatus, now_ms

console = Console()


@dataclass(frozen=True, slots=True)
class GroupLag:
    """One consumer group on one topic; ``error`` when the lag could not be read."""

    group: str
    topic: str
    partitions: list[PartitionLag]
    error: str = ""

    @property
    def total(self) -> int | None:
        known = [p.lag for p in self.partitions if p.lag is not None]
        return sum(known) if known else None


def fleet_problems(
    scorers: list[ScorerStatus], serving: int | None, stale: frozenset[str] = frozenset()
) -> list[str]:
    """Why the fleet is not in agreement with the registry; empty when it is.

    A ``stale`` scorer (not heard from in 3 heartbeats: stopped, or cut off from Kafka and so
    from its partitions) says nothing about what is served now, so it is left out; but a
    fleet in which every scorer is stale is a problem.
    """
    problems = []
    live = [s for s in scorers if s.scorer_id not in stale]
    if scorers and not live:
        problems.append(f"stale: no scorer heard from in 3 heartbeats ({', '.join(sorted(stale))})")
    versions = sorted({s.version for s in live if s.state == "serving"})
    if len(versions) > 1:
        problems.append(f"split: scorers serve versions {', '.join(map(str, versions))}")
    for s in live:
        if s.state != "serving":
            problems.append(f"{s.scorer_id}: {s.state} version {s.version}: {s.error}")
        elif serving is not None and s.version != serving:
            problems.append(
                f"{s.scorer_id}: stuck on version {s.version}, registry serves {serving}"
            )
    return problems


def _group_lags(settings: Settings, scorer_lag: list[PartitionLag]) -> list[GroupLag]:
    k = settings.kafka
    lags = [GroupLag(settings.scorer.group_id, k.image_topic, scorer_lag)]
    for group in (settings.trainer.group_id, settings.evaluator.group_id):
        for topic in (k.image_topic, k.label_topic):
            lags.append(_read_lag(k, group, topic))
    return lags


def _read_lag(kafka: KafkaSettings, group: str, topic: str) -> GroupLag:
    try:
        return GroupLag(group, topic, consumer_lag(kafka, group, topic, timeout_s=5))
    except BusError as exc:  # a topic not created yet; say so rather than fail the whole view
        return GroupLag(group, topic, [], str(exc))


def status_report(settings: Settings) -> dict[str, Any]:
    """The fleet, the groups' lag, the champion and the pin, as plain JSON values."""
    from storage.db import make_engine
    from storage.registry import Registry

    registry = Registry(make_engine(settings.db))
    champion = registry.champion()
    serving = registry.serving_version()
    pin = registry.active_pin()
    state = FleetView(
        settings.kafka, settings.scorer.group_id, ttl_s=0, heartbeat_s=settings.scorer.heartbeat_s
    ).state()
    serving_id = serving.id if serving else None
    stale = state.stale_ids()
    return {
        "champion": champion.id if champion else None,
        "serving": serving_id,
        "pin": None
        if pin is None
        else {
            "version": pin.version_id,
            "reason": pin.reason,
            "actor": pin.actor,
            "expires_at": pin.expires_at.isoformat() if pin.expires_at else None,
        },
        "scorers": [
            {
                "scorer_id": s.scorer_id,
                "version": s.version,
                "state": s.state,
                "error": s.error,
                "last_ack_ms": s.timestamp_ms,
                "stale": s.scorer_id in stale,
                "up_to_date": s.state == "serving" and s.version == serving_id,
            }
            for s in state.scorers
        ],
        "lag": [
            {
                "group": g.group,
                "topic": g.topic,
                "total": g.total,
                "error": g.error,
                "partitions": [
                    {"partition": p.partition, "committed": p.committed, "end": p.end, "lag": p.lag}
                    for p in g.partitions
                ],
            }
            for g in _group_lags(settings, state.lag)
        ],
        "problems": fleet_problems(state.scorers, serving_id, stale),
    }


def _print_table(report: dict[str, Any]) -> None:
    pin = report["pin"]
    pin_text = "none"
    if pin is not None:
        pin_text = (
            f"version {pin['version']} until {pin['expires_at'] or 'unpinned'} ({pin['reason']})"
        )
    console.print(f"champion: {report['champion'] or '-'}   serving: {report['serving'] or '-'}")
    console.print(f"pin: {pin_text}")
    scorers = Table("scorer", "version", "state", "last seen", "up to date", "error")
    now = now_ms()
    for s in report["scorers"]:
        seen = f"{max(0, now - s['last_ack_ms']) // 1000} s ago"
        if s["stale"]:
            seen += " (stale)"
        scorers.add_row(
            s["scorer_id"], str(s["version"]), s["state"], seen,
            "yes" if s["up_to_date"] else "NO", s["error"],
        )  # fmt: skip
    console.print(scorers)
    lag = Table("group", "topic", "partition", "committed", "end", "lag")
    for g in report["lag"]:
        if g["error"]:
            lag.add_row(g["group"], g["topic"], "-", "-", "-", g["error"])
        for p in g["partitions"]:
            committed = "-" if p["committed"] is None else str(p["committed"])
            lag.add_row(
                g["group"], g["topic"], str(p["partition"]), committed, str(p["end"]),
                "-" if p["lag"] is None else str(p["lag"]),
            )  # fmt: skip
    console.print(lag)
    for problem in report["problems"]:
        console.print(f"[red]problem:[/red] {problem}")


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status_cmd(
        fmt: StatusFormat = typer.Option(StatusFormat.table, "--format"),
    ) -> None:
        """Each scorer's served version, state and when it was last seen (stale after 3
        missed heartbeats); the consumer lag of the scorer, trainer and evaluator groups; the
        champion and the pin. Exit code 1 when the scorers that are not stale are split across
        versions, one is stuck or refused a version, or every scorer is stale."""
        report = status_report(Settings())
        if fmt is StatusFormat.json:
            echo_json(report)
        else:
            _print_table(report)
        if report["problems"]:
            raise typer.Exit(1)
