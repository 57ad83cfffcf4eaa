"""The loader: every problem of every file, with file and line; I/O failures; YAML corner cases."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.config.conftest import POLICY, UNIVERSE
from trader247.configfiles import (
    ConfigFileError,
    check_files,
    load_both,
    load_policy,
    load_universe,
    parse_policy,
    parse_universe,
)
from trader247.core.config import PolicyConfig, Problem

Write = Callable[[str, Any], Path]


def _errors(exc: ConfigFileError) -> list[str]:
    return [p.format() for p in exc.errors]


def test_spec_example_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The committed policy with the cap set to 250, loaded from config/policy.yaml.
    (tmp_path / "config").mkdir()
    text = POLICY.read_text(encoding="utf-8").replace(
        "max_total_at_risk_pct: 25.0", "max_total_at_risk_pct: 250"
    )
    (tmp_path / "config" / "policy.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigFileError) as info:
        load_policy("config/policy.yaml")
    assert str(info.value) == (
        "config/policy.yaml:49: risk.max_total_at_risk_pct: must be > 0 and <= 100 (got 250)"
    )
    assert isinstance(info.value, ValueError)


def test_three_errors_give_three_problems(write: Write) -> None:
    path = write(
        "policy.yaml",
        "risk:\n  max_total_at_risk_pct: 250\n  trim_interval_cycles: 0\nmetrics:\n  port: 0\n",
    )
    with pytest.raises(ConfigFileError) as info:
        load_policy(path)
    assert _errors(info.value) == [
        f"{path}:2: risk.max_total_at_risk_pct: must be > 0 and <= 100 (got 250)",
        f"{path}:3: risk.trim_interval_cycles: must be >= 1 (got 0)",
        f"{path}:5: metrics.port: must be >= 1 and <= 65535 (got 0)",
    ]
    assert str(info.value).count("\n") == 2  # one problem per line


def test_load_both_reports_both_files_at_once(write: Write) -> None:
    policy = write("policy.yaml", "risk:\n  trim_mode: x\n")
    universe = write("universe.yaml", "tiers:\n  t1:\n    symbols: [btc]\n")
    with pytest.raises(ConfigFileError) as info:
        load_both(policy, universe)
    assert _errors(info.value) == [
        f"{policy}:2: risk.trim_mode: must be one of 'proportional' or 'largest_first' (got 'x')",
        f"{universe}:2: tiers.t1.constraints: missing required key",
        f"{universe}:3: tiers.t1.symbols[0]: must be a symbol like BTC-USD, BTC/USD or BTC "
        "(upper-case letters/digits) (got 'btc')",
    ]


def test_load_both_cross_checks_with_lines(write: Write) -> None:
    universe = write(
        "universe.yaml",
        "tiers:\n  a:\n    symbols: [BTC-USD]\n    constraints: {min_24h_volume_usd: 1}\n"
        "  b:\n    symbols:\n      - ETH-USD\n      - BTC/USD\n"
        "    constraints: {min_24h_volume_usd: 2}\n",
    )
    policy = write("policy.yaml", {"risk": {"max_total_at_risk_pct": 30}})
    with pytest.raises(ConfigFileError) as info:
        load_both(policy, universe, dry_run=False)
    assert _errors(info.value) == [
        f"{policy}:2: risk.max_total_at_risk_pct: a live config with a cap above 25 needs "
        "risk.acknowledge_high_cap_live: true (got 30; 25 is the live cap of the original bot)",
        f"{universe}:8: tiers.b.symbols[1]: BTC/USD is already in tier a (as BTC-USD); "
        "a symbol belongs to one tier only",
        f"{universe}:9: tiers.b.constraints.min_24h_volume_usd: must be <= the floor of the tier "
        "above (a: 1); tiers go from highest floor to lowest (got 2)",
    ]


def test_cross_check_runs_on_the_file_that_parsed(write: Write) -> None:
    policy = write("policy.yaml", {"risk": {"max_total_at_risk_pct": 10, "trim_band_pct": 10}})
    with pytest.raises(ConfigFileError) as info:
        load_both(policy, write("universe.yaml", "tiers: {}\n"))
    assert [p.path for p in info.value.errors] == [("risk", "trim_band_pct"), ("tiers",)]


def test_warnings_are_logged_not_raised(write: Write, caplog: pytest.LogCaptureFixture) -> None:
    policy = write("policy.yaml", {"sizing": {"tier_stake_pct": {"tier_1_cor": 3.0}}})
    with caplog.at_level(logging.WARNING, logger="trader247.configfiles"):
        load_both(policy, UNIVERSE)
    assert f"{policy}:3: sizing.tier_stake_pct.tier_1_cor: warning: no tier tier_1_cor" in (
        caplog.text
    )
    [problem] = check_files(policy, UNIVERSE)
    assert problem.severity == "warning" and problem.line == 3


@pytest.mark.parametrize(
    "make, message",
    [
        # The absolute path looked for: a relative one says nothing about the folder used.
        (lambda d: d / "missing.yaml", "missing.yaml: file not found (looked for {path})"),
        (lambda d: d, ": is a directory, not a file"),
    ],
)
def test_unreadable_paths(tmp_path: Path, make: Callable[[Path], Path], message: str) -> None:
    with pytest.raises(ConfigFileError) as info:
        load_policy(make(tmp_path))
    assert str(info.value).endswith(message.format(path=make(tmp_path)))
    assert str(info.value).startswith(str(tmp_path))


def test_missing_files_of_both_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as info:
        load_both(tmp_path / "p.yaml", tmp_path / "u.yaml")
    assert [p.file for p in info.value.problems] == [
        str(tmp_path / "p.yaml"),
        str(tmp_path / "u.yaml"),
    ]


def test_merge_keys_may_be_overridden_but_duplicates_may_not() -> None:
    text = (
        "risk: &r\n  trim_mode: largest_first\n  trim_interval_cycles: 2\n"
        "liquidity: {}\n"
        "shutdown:\n  liquidate_on_stop: true\n"
    )
    assert parse_policy(text).risk.trim_mode == "largest_first"
    merged = "universe_base: &u {min_24h_volume_usd: 5}\n"
    with pytest.raises(ConfigFileError, match="universe_base: unknown key"):
        parse_policy(merged)
    ok = (
        "tiers:\n  t1:\n    symbols: [A]\n    constraints: &c {min_24h_volume_usd: 5}\n"
        "  t2:\n    symbols: [B]\n    constraints:\n      <<: *c\n      min_24h_volume_usd: 4\n"
    )
    assert parse_universe(ok).tiers["t2"].constraints.min_24h_volume_usd == 4


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
            "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e]\n"
            "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
            "document expands to more than",
        ),
        ("liquidity:\n  pegged_quotes: &q [*q]\n", "liquidity.pegged_quotes[0]: must be a string"),
        ("risk: " + "[" * 3000, ":1:70: YAML syntax error: nested more than 64 levels deep"),
        ("\ufeffrisk: {}\n", None),  # a UTF-8 byte-order mark is fine
        ("risk: !!binary aGVsbG8=\n", "risk: must be a mapping"),
        ("? [a, b]\n: 1\n", "found unhashable key"),
        ("null: 1\n", ":1: null: keys must be strings here"),
    ],
)
def test_yaml_corner_cases(text: str, message: str | None) -> None:
    # What refusing the nesting bomb costs is measured in bench/config_parse.py, not here.
    if message is None:
        assert parse_policy(text.encode()) == PolicyConfig()
        return
    with pytest.raises(ConfigFileError) as info:
        parse_policy(text.encode())
    assert message in str(info.value)


def test_problem_format() -> None:
    assert Problem("f.yaml", ("a", "b", 2), "bad", line=4).format() == "f.yaml:4: a.b[2]: bad"
    assert Problem("f.yaml", (), "syntax", line=4, column=7).format() == "f.yaml:4:7: syntax"
    assert Problem("f.yaml", (), "empty").format() == "f.yaml: empty"
    warning = Problem("f.yaml", ("x",), "hm", line=1, severity="warning")
    assert warning.format() == "f.yaml:1: x: warning: hm"
    assert ConfigFileError([warning]).errors == []


def test_nothing_is_cached(write: Write) -> None:
    path = write("policy.yaml", {"risk": {"trim_interval_cycles": 2}})
    assert load_policy(path).risk.trim_interval_cycles == 2
    path.write_text("risk:\n  trim_interval_cycles: 4\n", encoding="utf-8")
    assert load_policy(path).risk.trim_interval_cycles == 4
    assert load_universe(UNIVERSE) == load_universe(UNIVERSE)


def test_problem_count_is_capped_per_file() -> None:
    text = "liquidity:\n  pegged_quotes: [" + ", ".join(["1"] * 300) + "]\n"
    with pytest.raises(ConfigFileError) as info:
        parse_policy(text, file="p.yaml")
    problems = info.value.problems
    assert len(problems) == 101
    assert problems[-1].format() == "p.yaml:2: ... and 200 more problems"
