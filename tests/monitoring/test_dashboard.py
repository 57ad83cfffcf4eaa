"""Grafana dashboard and provisioning: structure, and every query uses exported metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring._tools import (
    EXTERNAL_NAMES,
    GRAFANA_DIR,
    exported_names,
    promtool,
    referenced_names,
)

DASHBOARD = GRAFANA_DIR / "dashboards" / "trader247.json"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yml"
PANEL_TYPES = {"row", "timeseries", "stat", "bargauge", "gauge", "table", "text"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in panels(dashboard) for t in p.get("targets", [])]


def datasource_uid() -> str:
    sources = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert len(sources) == 1 and sources[0]["type"] == "prometheus"
    uid: str = sources[0]["uid"]
    return uid


def test_top_level(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"] == "247trader"
    assert isinstance(dashboard["schemaVersion"], int)
    assert dashboard["panels"] and "time" in dashboard
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["instance"]["datasource"]["uid"] == datasource_uid()


def test_panels_are_well_formed(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    uid = datasource_uid()
    for panel in panels(dashboard):
        assert panel["type"] in PANEL_TYPES, panel["type"]
        assert panel["title"]
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in ("h", "w", "x", "y"))
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == uid, panel["title"]
        targets = panel["targets"]
        assert targets, panel["title"]
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in targets:
            assert target["expr"].strip()
            assert target["datasource"]["uid"] == uid


def test_every_query_uses_exported_metrics(dashboard: dict[str, Any]) -> None:
    exported = exported_names()
    for title, expr in queries(dashboard):
        names = referenced_names(expr)
        assert names or any(n in expr for n in EXTERNAL_NAMES), (title, expr)
        missing = names - exported
        assert not missing, f"panel {title!r} queries undefined metrics {missing}: {expr}"


def test_dashboard_covers_the_monitoring_priorities(dashboard: dict[str, Any]) -> None:
    used = set().union(*(referenced_names(e) for _, e in queries(dashboard)))
    for name in (
        "trader247_exposure_at_risk_ratio", "trader247_exposure_cap_ratio", "trader247_cap_state",
        "trader247_trims_total", "trader247_trim_latency_seconds_bucket",
        "trader247_trims_last_round", "trader247_universe_eligible_pairs",
        "trader247_universe_pairs", "trader247_core_pair_eligible",
        "trader247_pnl_realised_stake", "trader247_pnl_unrealised_stake",
        "trader247_bot_iteration_duration_seconds_bucket",
        "trader247_bot_iteration_plugin_seconds_bucket", "trader247_plugin_hook_seconds_total",
        "trader247_order_failures_total",
        "trader247_exchange_errors_total", "trader247_usd_conversion_failures_total",
    ):
        assert name in used, name


def test_queries_are_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    # promtool has no offline expression check: wrap each query in a recording rule.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$instance", ".*")}
        for i, (_, expr) in enumerate(queries(dashboard))
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_points_at_the_compose_services() -> None:
    source = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert [p["type"] for p in providers] == ["file"]
    compose = yaml.safe_load((GRAFANA_DIR.parents[1] / "docker-compose.yml").read_text())
    mounts = dict(v.split(":")[:2][::-1] for v in compose["services"]["grafana"]["volumes"])
    assert mounts[providers[0]["options"]["path"]] == "./monitoring/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./monitoring/grafana/provisioning"
