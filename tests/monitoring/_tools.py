"""Helpers shared by the monitoring tests: promtool, metric names, repository paths."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "monitoring" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
GRAFANA_DIR = REPO / "monitoring" / "grafana"

# Metric names that are not ours but may be referenced: Prometheus' own `up`, and the process
# collector of the bot's registry.
EXTERNAL_NAMES = frozenset({"up"})
_NAME = re.compile(r"(?<![A-Za-z0-9_:])((?:trader247|process|python)_[a-z0-9_]+)")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool; FAIL (never skip) when it is missing, so CI cannot silently lose the checks."""
    exe = shutil.which("promtool")
    if exe is None:
        pytest.fail(
            "promtool not found on PATH: run `make promtool` (installs Debian's `prometheus` "
            "package, which provides promtool) and re-run the tests",
            pytrace=False,
        )
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )


@functools.cache
def exported_names() -> frozenset[str]:
    """Every sample name the exporter exposes (``_total``, ``_bucket``, ``_sum``... included)."""
    from trader247.metrics.exporter import Metrics

    metrics = Metrics(tiers=("t",), process_collectors=True)
    # The fleet's series exist only in a fleet member (they carry its fleet name).
    metrics.update_fleet(fleet="main", bot="a", at_risk_pct=0.0, members=1, reservations=0,
                         leader=True, available=True)
    families = list(metrics.registry.collect())
    # A labelled gauge whose series appear only when configured (the cluster caps) is declared
    # all the same: its name is exported as soon as it has a series.
    gauges = {family.name for family in families if family.type == "gauge"}
    return frozenset({s.name for family in families for s in family.samples} | gauges)


def referenced_names(expr: str) -> set[str]:
    """Our metric names in a PromQL expression (trader247_*, process_*, python_*)."""
    return set(_NAME.findall(expr))
