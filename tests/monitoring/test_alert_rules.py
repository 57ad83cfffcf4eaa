"""Alert rules: promtool check + unit tests, and every rule covered by a test."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import yaml

from tests.monitoring._tools import (
    ALERTS,
    EXTERNAL_NAMES,
    RULE_TESTS,
    exported_names,
    promtool,
    referenced_names,
)


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


@functools.cache
def alert_tests() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(file name, test case, alert_rule_test entry) for every alert test in every file."""
    out = []
    for path in RULE_TESTS:
        doc = yaml.safe_load(path.read_text())
        for case in doc["tests"]:
            for entry in case.get("alert_rule_test", []):
                out.append((path.name, case, entry))
    return out


ALERT_NAMES = sorted(rule["alert"] for rule in rules() if "alert" in rule)


def test_there_are_rules_and_tests() -> None:
    assert len(ALERT_NAMES) >= 12
    assert RULE_TESTS, "no promtool test files in monitoring/prometheus/tests"


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


@pytest.mark.parametrize("path", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests(path: Any) -> None:
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_test_files_load_the_committed_rules() -> None:
    for path in RULE_TESTS:
        doc = yaml.safe_load(path.read_text())
        resolved = [(path.parent / f).resolve() for f in doc["rule_files"]]
        assert resolved == [ALERTS.resolve()], path.name


@pytest.mark.parametrize("alert", ALERT_NAMES)
def test_every_rule_has_a_firing_and_a_quiet_test(alert: str) -> None:
    firing = [e for _, _, e in alert_tests() if e["alertname"] == alert and e.get("exp_alerts")]
    quiet = [e for _, _, e in alert_tests()
             if e["alertname"] == alert and not e.get("exp_alerts")]
    assert firing, f"{alert}: no promtool test expects it to fire (exp_alerts)"
    assert quiet, f"{alert}: no negative promtool test (exp_alerts: [])"


def test_tests_name_only_existing_rules() -> None:
    # An unknown alertname with `exp_alerts: []` passes in promtool: a renamed rule would leave
    # its negative tests silently vacuous.
    unknown = {e["alertname"] for _, _, e in alert_tests()} - set(ALERT_NAMES)
    assert not unknown, f"tests reference alerts that do not exist: {sorted(unknown)}"


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_rule_shape_and_metric_names(rule: dict[str, Any]) -> None:
    assert rule["alert"].startswith("Trader247")
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert {"summary", "description"} <= set(rule["annotations"])
    names = referenced_names(rule["expr"])
    assert names or "up{" in rule["expr"], rule["expr"]
    missing = names - exported_names()
    assert not missing, f"{rule['alert']} uses metrics the exporter does not define: {missing}"


def test_test_inputs_use_exported_metric_names() -> None:
    exported = exported_names() | EXTERNAL_NAMES
    for path in RULE_TESTS:
        doc = yaml.safe_load(path.read_text())
        for case in doc["tests"]:
            for item in case.get("input_series", []):
                name = item["series"].split("{", 1)[0].strip()
                assert name in exported, f"{path.name}: {name} is not exported"
