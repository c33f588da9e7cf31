"""Analysts and operators through the `arena` command line, on a real registry."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from arena.cli.main import app, register_commands

from .conftest import Loop, Models
from .test_evaluator import labeled, make_evaluator


@pytest.fixture
def cli_env(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> Loop:
    """Point the CLI's settings (read from ARENA_*) at this test's deployment."""
    k = loop.settings.kafka
    monkeypatch.setenv("ARENA_DB_NAME", loop.settings.db.name)
    for name in (
        "image_topic",
        "label_topic",
        "prediction_topic",
        "model_topic",
        "scorer_status_topic",
    ):
        monkeypatch.setenv(f"ARENA_KAFKA_{name.upper()}", getattr(k, name))
    register_commands()
    return loop


def test_history_and_models_show_the_score_history(cli_env: Loop, models: Models) -> None:
    loop = cli_env
    champion = loop.register(models.good)
    loop.control.promote(champion.id, reason="initial", actor="test")
    evaluator, _ = make_evaluator(loop)
    for example in labeled(400):
        evaluator.add(example)
    evaluator.evaluate()
    runner = CliRunner()

    as_json = runner.invoke(app, ["history", "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert rows and {r["metric"] for r in rows} == {"accuracy"}
    assert rows[-1]["version_id"] == champion.id and rows[-1]["role"] == "champion"
    assert rows[-1]["value"] == pytest.approx(loop.registry.latest_metrics(champion.id)["accuracy"])

    as_csv = runner.invoke(app, ["history", "--format", "csv", "--metric", "macro_f1"])
    assert as_csv.exit_code == 0, as_csv.output
    parsed = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert parsed and all(r["metric"] == "macro_f1" for r in parsed)

    listing = runner.invoke(app, ["models", "--format", "json"])
    assert listing.exit_code == 0, listing.output
    [only] = json.loads(listing.output)
    assert (only["version"], only["status"], only["serving"]) == (champion.id, "champion", True)
    assert only["latest_metrics"]["accuracy"] == pytest.approx(rows[-1]["value"])
    table = runner.invoke(app, ["models"])
    assert table.exit_code == 0 and "keras" in table.output


def test_history_lists_the_drift_detections(cli_env: Loop, models: Models) -> None:
    from storage.db import make_engine
    from storage.domain import DriftRecord
    from storage.drift_log import DriftLog

    loop = cli_env
    champion = loop.register(models.good)
    loop.control.promote(champion.id, reason="initial", actor="test")
    DriftLog(make_engine(loop.settings.db)).record(
        DriftRecord(
            detector="adwin:input_mean",
            statistic="input_mean",
            value_before=0.13,
            value_after=0.87,
            labeled=False,
            event_topic="arena.images",
            event_partition=1,
            event_offset=750,
            boundary={"arena.images:1": 742},
            champion_version=champion.id,
        )
    )
    runner = CliRunner()
    as_json = runner.invoke(app, ["history", "--drift", "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    [row] = json.loads(as_json.output)
    assert (row["detector"], row["event_offset"], row["champion_version"]) == (
        "adwin:input_mean",
        750,
        champion.id,
    )
    assert row["boundary"] == {"arena.images:1": 742}
    table = runner.invoke(app, ["history"])
    assert table.exit_code == 0 and "drift detections" in table.output
    assert "adwin:input_mean" in table.output


def test_pin_and_unpin_commands_write_the_audit_log(cli_env: Loop, models: Models) -> None:
    loop = cli_env
    champion = loop.register(models.good)
    loop.control.promote(champion.id, reason="initial", actor="test")
    other = loop.register(models.bad, parent=champion.id)
    runner = CliRunner()

    pinned = runner.invoke(app, ["pin", str(other.id), "--reason", "audit", "--actor", "alice"])
    assert pinned.exit_code == 0, pinned.output
    assert loop.registry.serving_version().id == other.id  # type: ignore[union-attr]
    unpinned = runner.invoke(app, ["unpin", "--reason", "done", "--actor", "alice"])
    assert unpinned.exit_code == 0, unpinned.output
    assert loop.registry.serving_version().id == champion.id  # type: ignore[union-attr]
    log = loop.registry.promotions()
    assert [(p.kind.value, p.actor) for p in log[-2:]] == [("pin", "alice"), ("unpin", "alice")]

    missing = runner.invoke(app, ["pin", "9999", "--reason", "typo"])
    assert missing.exit_code != 0
