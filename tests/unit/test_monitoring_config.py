"""Prometheus, its alert rules and the Grafana dashboard match the code and docker-compose.yml:
every query names a metric some service really exports, and every scrape target is a compose
service on the port where it serves /metrics (CI has neither Prometheus nor Grafana)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from arena.join import JoinStats
from evaluator.telemetry import EvaluatorMetrics
from scorer.telemetry import ScorerMetrics
from trainer.telemetry import TrainerMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
SCRAPED = ("scorer", "trainer", "evaluator")  # the services with /metrics

# The sample names each metric type exports (prometheus_client's text format).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}
PROMETHEUS_OWN = {"up"}  # what Prometheus records about each scrape itself
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes",
    "clamp", "clamp_max", "clamp_min", "count", "count_over_time", "count_values", "delta",
    "deriv", "exp", "floor", "group", "histogram_quantile", "idelta", "increase", "irate",
    "label_join", "label_replace", "last_over_time", "ln", "log2", "log10", "max",
    "max_over_time", "min", "min_over_time", "predict_linear", "quantile",
    "quantile_over_time", "rate", "resets", "round", "scalar", "sort", "sort_desc", "sqrt",
    "stddev", "stddev_over_time", "stdvar", "sum", "sum_over_time", "time", "timestamp",
    "topk", "vector",
}  # fmt: skip
KEYWORDS = {"and", "or", "unless", "bool", "offset", "on", "ignoring", "group_left"}
KEYWORDS |= {"group_right", "by", "without", "inf", "nan"}


def exported_metrics() -> set[str]:
    """Every sample name the scorer, trainer and evaluator export, from their registries."""
    trainer = TrainerMetrics()
    trainer.watch_join(lambda: JoinStats())  # the join buffer's families exist once it does
    names: set[str] = set()
    for registry in (ScorerMetrics().registry, trainer.registry, EvaluatorMetrics().registry):
        for family in registry.collect():
            names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not its functions, labels or keywords).

    Raises AssertionError on a function this parser does not know, so a typo in one is not
    mistaken for a metric.
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])[A-Za-z_:][\w:]*", text):
        word = match[0]
        if word in KEYWORDS:
            continue
        if text[match.end() :].lstrip().startswith("("):
            assert word in FUNCTIONS, f"unknown PromQL function {word!r} in {expr!r}"
            continue
        names.add(word)
    return names


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = _yaml(ROOT / "docker-compose.yml")
    return loaded


def alert_rules() -> list[dict[str, Any]]:
    rules = _yaml(DEPLOY / "prometheus" / "alerts.yml")
    return [rule for group in rules["groups"] for rule in group["rules"]]


def dashboard_panels() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = json.loads(DASHBOARD.read_text())["panels"]
    return panels


def dashboard_queries() -> list[str]:
    return [t["expr"] for p in dashboard_panels() for t in p.get("targets", [])]


def test_the_parser_finds_metrics_and_only_metrics() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{job="x"}[5m]))) > on() '
        "b offset 10m and sum without (instance) (c) * 1e3"
    )
    assert metric_names(expr) == {"a_bucket", "b", "c"}
    with pytest.raises(AssertionError, match="unknown PromQL function"):
        metric_names("rates(a[5m])")


def test_exported_names_are_the_exposition_names() -> None:
    names = exported_metrics()
    assert {"arena_scorer_batches_total", "arena_scorer_latency_seconds_bucket"} <= names
    assert {"arena_trainer_join_labels_expired_total", "arena_evaluator_champion_accuracy"} <= names
    assert "arena_scorer_batches" not in names  # a counter is only exported with _total


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_query_names_metrics_the_code_exports(source: str) -> None:
    queries = [r["expr"] for r in alert_rules()] if source == "alerts" else dashboard_queries()
    assert len(queries) >= 5
    known = exported_metrics() | PROMETHEUS_OWN
    unknown = {q: sorted(metric_names(q) - known) for q in queries if metric_names(q) - known}
    assert not unknown, f"no such metric in scorer/, trainer/, evaluator/ telemetry: {unknown}"
    assert all(metric_names(q) for q in queries), "every query selects some metric"


def test_the_alerts_the_issue_asks_for_exist() -> None:
    rules = {r["alert"]: r for r in alert_rules()}
    assert {"ArenaScorerStuck", "ArenaFleetSplit", "ArenaLiveAccuracyDrop"} <= set(rules)
    assert "arena_scorer_batches_total" in metric_names(rules["ArenaScorerStuck"]["expr"])
    assert metric_names(rules["ArenaFleetSplit"]["expr"]) == {"arena_scorer_serving_version"}
    assert "arena_evaluator_champion_accuracy" in metric_names(
        rules["ArenaLiveAccuracyDrop"]["expr"]
    )
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def _metrics_port(service: dict[str, Any]) -> tuple[str, str]:
    """(host, port) a compose service serves /metrics on, from its environment."""
    env = service["environment"]
    section = service["command"][0].upper()
    return env[f"ARENA_{section}_METRICS_HOST"], env[f"ARENA_{section}_METRICS_PORT"]


def test_scrape_targets_are_the_compose_services_and_their_ports(compose: dict[str, Any]) -> None:
    config = _yaml(DEPLOY / "prometheus" / "prometheus.yml")
    services = compose["services"]
    scraped: set[str] = set()
    for job in config["scrape_configs"]:
        for target in (t for sc in job["static_configs"] for t in sc["targets"]):
            host, _, port = target.partition(":")
            assert host in services, f"{target}: no compose service {host}"
            service = services[host]
            assert job["job_name"] == f"arena-{service['command'][0]}", target
            assert _metrics_port(service) == ("0.0.0.0", port), target
            scraped.add(host)
    wanted = {n for n, s in services.items() if s.get("command", [""])[0] in SCRAPED}
    assert scraped == wanted, f"not scraped: {sorted(wanted - scraped)}"


def _mounted(service: dict[str, Any]) -> dict[str, str]:
    """container path -> host path of a service's bind mounts (``./host:/container[:ro]``)."""
    mounts = {}
    for volume in service["volumes"]:
        source, target = str(volume).split(":")[:2]
        if source.startswith("./"):
            mounts[target] = source
    return mounts


def test_prometheus_mounts_its_config_and_rules(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    mounts = _mounted(prometheus)
    config = "/etc/prometheus/prometheus.yml"
    assert f"--config.file={config}" in prometheus["command"]
    assert mounts[config] == "./deploy/prometheus/prometheus.yml"
    for rule_file in _yaml(DEPLOY / "prometheus" / "prometheus.yml")["rule_files"]:
        assert (ROOT / mounts[rule_file]).is_file(), rule_file


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(
    compose: dict[str, Any],
) -> None:
    grafana = compose["services"]["grafana"]
    mounts = _mounted(grafana)
    provisioning = "/etc/grafana/provisioning"
    datasources = ROOT / mounts[f"{provisioning}/datasources"]
    source = _yaml(datasources / "prometheus.yml")["datasources"][0]
    host, port = source["url"].removeprefix("http://").split(":")
    assert host == "prometheus" and host in compose["services"]
    assert any(str(p).endswith(f":{port}") for p in compose["services"][host]["ports"])
    provider = _yaml(ROOT / mounts[f"{provisioning}/dashboards"] / "arena.yml")["providers"][0]
    dashboards = {t: s for t, s in mounts.items() if t.startswith(provider["options"]["path"])}
    assert list(dashboards.values()) == ["./docs/grafana-dashboard.json"]
    variable = json.loads(DASHBOARD.read_text())["templating"]["list"][0]
    assert variable["type"] == "datasource" and variable["current"]["value"] == source["uid"]


def test_the_dashboard_is_one_grafana_can_load() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    panels = dashboard_panels()
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
