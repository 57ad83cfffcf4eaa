"""``trader247 migrate`` on the original bot's real files: every key accounted for, the mapping
to freqtrade's own parts, the profile format, bad input named by file:line:key, nothing written
half-way. (Freqtrade's own validation of the written files: test_migrate_e2e.py.)"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.migrate.conftest import PROFILES, REAL
from trader247.configfiles import load_both
from trader247.migrate.build import migrate
from trader247.migrate.cli import main as migrate_main
from trader247.migrate.model import Migration, Status


def leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key whose value is not a non-empty mapping: what the report must have a row for."""
    if isinstance(value, dict) and value:
        return [leaf for key, child in value.items() for leaf in leaves(child, (*path, key))]
    return [path]


def run(source: Path, target: Path, **kwargs: Any) -> Migration:
    return migrate(source, target, check_freqtrade=False, **kwargs)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Migration:
    return run(REAL, tmp_path_factory.mktemp("out") / "migrated")


def row(result: Migration, file: str, key: str) -> Any:
    found = [r for r in result.rows if r.leaf.file == file and r.leaf.key == key]
    assert len(found) == 1, (file, key, found)
    return found[0]


# ------------------------------------------------------------------------------ completeness


def test_every_key_of_every_file_has_exactly_one_row(real: Migration) -> None:
    assert real.ok, real.errors
    for name in ("policy.yaml", "universe.yaml", "app.yaml"):
        expected = sorted(".".join(p) for p in leaves(yaml.safe_load((REAL / name).read_text())))
        got = sorted(r.leaf.key for r in real.rows if r.leaf.file == name)
        assert got == expected, name
    assert len(real.rows) == 342
    assert real.count(Status.UNRECOGNISED) == 0
    assert real.count(Status.ERROR) == 0
    assert all(r.note for r in real.rows)  # every row says how or why


def test_report_has_a_row_per_key_with_its_line(real: Migration) -> None:
    report = real.texts["MIGRATION.md"]
    table_rows = re.findall(r"^\| (\d+) \| `([^`]+)` \|", report, flags=re.M)
    assert len(table_rows) == len(real.rows)
    assert "Unexplained keys: **0**" in report
    assert ("| 15 | `risk.max_open_positions` | `12` | mapped | config.json max_open_trades "
            "= `12` | freqtrade's slot limit |") in report
    lines = (REAL / "policy.yaml").read_text().splitlines()
    for line, key in table_rows[:60]:  # policy.yaml rows: the number is the key's own line
        assert lines[int(line) - 1].lstrip().startswith(key.split(".")[-1] + ":"), (line, key)


@pytest.mark.parametrize("file, key, status, target, value", [
    ("policy.yaml", "risk.max_total_at_risk_pct", "mapped", "policy.yaml risk.max_total_at_risk_pct", 95.0),
    ("policy.yaml", "risk.max_open_positions", "mapped", "config.json max_open_trades", 12),
    ("policy.yaml", "strategy.max_open_positions", "mapped", "config.json max_open_trades", 12),
    ("policy.yaml", "risk.max_per_theme_pct.L2", "mapped",
     "policy.yaml risk.max_per_cluster_pct.LAYER2", 10.0),
    ("policy.yaml", "risk.max_per_asset_pct", "mapped", "policy.yaml risk.max_per_asset_pct", 5.0),
    ("policy.yaml", "risk.stop_loss_pct", "mapped", "config.json stoploss", -0.08),
    ("policy.yaml", "risk.take_profit_pct", "mapped", "config.json minimal_roi", {"0": 0.15}),
    ("policy.yaml", "risk.allow_pyramiding", "mapped",
     "config.json max_entry_position_adjustment", 2),
    ("policy.yaml", "strategy.base_position_pct.tier2", "mapped",
     "policy.yaml sizing.tier_stake_pct.tier_2_rotational", 1.2),
    ("policy.yaml", "liquidity.max_spread_bps", "covered differently", "", None),
    ("policy.yaml", "execution.taker_fee_bps", "mapped", "config.json fee", 0.006),
    ("policy.yaml", "execution.cancel_after_seconds", "mapped", "config.json unfilledtimeout",
     {"entry": 60, "exit": 60, "exit_timeout_count": 0, "unit": "seconds"}),
    ("policy.yaml", "portfolio_management.trim_target_buffer_pct", "mapped",
     "policy.yaml risk.trim_band_pct", 10.0),
    ("policy.yaml", "portfolio_management.purge_execution.slice_usd", "dropped", "", None),
    ("policy.yaml", "twap.replace_seconds", "dropped", "", None),
    ("policy.yaml", "ai.m1_model", "dropped", "", None),
    ("policy.yaml", "loop.interval_seconds", "mapped", "config.json internals.process_throttle_secs",
     60),
    ("policy.yaml", "loop.universe_cache_seconds", "mapped",
     "pairlist TieredLiquidityPairList refresh_period", 300),
    ("policy.yaml", "circuit_breakers.min_eligible_assets", "mapped",
     "policy.yaml liquidity.min_universe_size", 2),
    ("universe.yaml", "eligibility_hysteresis.volume_24h.exit_mult", "mapped",
     "policy.yaml liquidity.exit_band", 0.05),
    ("universe.yaml", "eligibility_hysteresis.volume_24h.cycles_confirm_enter",
     "covered differently", "", None),
    ("universe.yaml", "clusters.definitions.MEME", "mapped",
     "universe.yaml clusters.definitions.MEME", ["DOGE", "SHIB", "PEPE"]),
    ("universe.yaml", "universe.max_universe_size", "mapped",
     "pairlist TieredLiquidityPairList number_assets", 30),
    ("app.yaml", "app.mode", "covered differently", "config.json dry_run", True),
    ("app.yaml", "exchange.api_secret", "covered differently", "", None),
    ("app.yaml", "monitoring.metrics_port", "mapped", "policy.yaml metrics.port", 9090),
])
def test_mapping_table(real: Migration, file: str, key: str, status: str, target: str,
                       value: Any) -> None:
    found = row(real, file, key)
    assert (found.status.value, found.target) == (status, target)
    if value is not None:
        assert found.value == value


def test_loss_limits_and_cooldowns_become_freqtrades_protections(real: Migration) -> None:
    policy = yaml.safe_load(real.texts["policy.yaml"])
    assert policy["protections"] == [
        {"method": "MaxDrawdown", "calculation_mode": "equity", "lookback_period": 1440,
         "trade_limit": 1, "max_allowed_drawdown": 0.03, "unlock_at": "00:00"},
        {"method": "MaxDrawdown", "calculation_mode": "equity", "lookback_period": 10080,
         "trade_limit": 1, "max_allowed_drawdown": 0.07, "stop_duration": 1440},
        {"method": "MaxDrawdown", "calculation_mode": "equity", "lookback_period": 43200,
         "trade_limit": 1, "max_allowed_drawdown": 0.1, "stop_duration": 1440},
        {"method": "StoplossGuard", "trade_limit": 3, "lookback_period": 1440,
         "stop_duration": 60, "required_profit": 0.0},
        {"method": "LowProfitPairs", "trade_limit": 1, "required_profit": 0.0,
         "lookback_period": 30, "stop_duration": 30},
        {"method": "StoplossGuard", "trade_limit": 1, "only_per_pair": True,
         "lookback_period": 60, "stop_duration": 60, "required_profit": 0.0},
    ]
    assert json.loads(real.texts["config.json"])["enable_protections"] is True


def test_written_files_load_into_our_models(real: Migration, tmp_path: Path) -> None:
    for name in ("policy.yaml", "universe.yaml"):
        (tmp_path / name).write_text(real.texts[name])
    policy, universe = load_both(tmp_path / "policy.yaml", tmp_path / "universe.yaml",
                                 dry_run=True)
    # Tiers highest floor first (247trader's rule); every tier keeps its floor and symbols.
    assert list(universe.tiers) == ["tier_2_rotational", "tier_1_core", "tier_3_event_driven"]
    assert universe.tiers["tier_1_core"].constraints.min_24h_volume_usd == 10_000_000
    assert universe.tiers["tier_3_event_driven"].symbols == ()
    assert universe.exclusions.never_trade[:4] == ("USDT-USD", "USDC-USD", "DAI-USD", "BUSD-USD")
    assert policy.risk.max_per_cluster_pct == {"LAYER2": 10.0, "MEME": 5.0, "DEFI": 10.0}
    # The new key, not its deprecated name (the model reads both: the text tells them apart).
    assert "\n  max_per_cluster_pct:\n" in real.texts["policy.yaml"]
    assert "max_per_theme_pct" not in real.texts["policy.yaml"]
    assert policy.sizing.default_stake_pct == 0.5  # the smallest tier stake
    assert policy.liquidity.exit_band == 0.05
    assert len(policy.protections) == 6


def test_written_config_is_dry_run_without_secrets_of_the_source(real: Migration) -> None:
    config = json.loads(real.texts["config.json"])
    assert config["dry_run"] is True
    assert (config["exchange"]["key"], config["exchange"]["secret"]) == ("", "")
    assert "${" not in real.texts["config.json"]
    assert config["pairlists"] == [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                                    "number_assets": 30}]
    assert config["entry_pricing"]["price_side"] == "same"  # limit_post_only: own side
    assert len(config["api_server"]["jwt_secret_key"]) == 64


# ------------------------------------------------------------------------------ profiles


# Keys of the 2025-11-15 version as docs/CONSERVATIVE_POLICY_ALIGNMENT.md and the production
# fixes (trim budget, force-eligible core assets) name them.
LATER_RISK_KEYS = """\
  min_seconds_between_trades: 180
  per_symbol_trade_spacing_seconds: 900
  max_order_age_seconds: 600
  trim_interval_cycles: 3
  trim_timeout_seconds: 75
"""
FORCE = """\
      force_eligible_symbols:
      - BTC-USD
      - ETH-USD
"""


def test_active_profile_sets_the_tier_sizing(v2_dir: Callable[..., Path], tmp_path: Path) -> None:
    source = v2_dir(
        ("policy.yaml", "  take_profit_pct: 15.0\n", "  take_profit_pct: 15.0\n" + LATER_RISK_KEYS),
        ("universe.yaml", "      min_24h_volume_usd: 10000000", FORCE
         + "      min_24h_volume_usd: 10000000"),
        prepend={"policy.yaml": PROFILES})
    result = run(source, tmp_path / "out")
    assert result.ok, result.errors
    policy = yaml.safe_load(result.texts["policy.yaml"])
    assert policy["sizing"]["tier_stake_pct"] == {
        "tier_1_core": 1.5, "tier_2_rotational": 1.0, "tier_3_event_driven": 0.5}
    assert row(result, "policy.yaml", "profile").status is Status.MAPPED
    assert row(result, "policy.yaml", "strategy.base_position_pct.tier1").status is Status.COVERED
    inactive = row(result, "policy.yaml", "profiles.day_trader.tier_sizing.T1")
    assert (inactive.status, inactive.note) == (
        Status.DROPPED, "inactive profile (profile: conservative)")
    conviction = row(result, "policy.yaml", "profiles.conservative.min_conviction")
    assert '"buy_conviction": 0.4' in conviction.note
    assert result.count(Status.UNRECOGNISED) == 0
    assert {"method": "CooldownPeriod", "stop_duration": 15} in policy["protections"]
    assert (policy["risk"]["trim_interval_cycles"], policy["risk"]["trim_timeout_seconds"]) == (
        3, 75)
    universe = yaml.safe_load(result.texts["universe.yaml"])
    assert universe["tiers"]["tier_1_core"]["constraints"]["force_eligible_symbols"] == [
        "BTC-USD", "ETH-USD"]


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("edits, prepend, expected", [
    ((), {"policy.yaml": PROFILES.replace("profile: conservative", "profile: swing_trader")},
     "policy.yaml:1: profile: unknown profile swing_trader (defined: conservative, day_trader)"),
    ((("policy.yaml", "max_open_positions: 12      #", "max_open_positions: 0      #"),), None,
     "policy.yaml:15: risk.max_open_positions: must be >= 1 (got 0)"),
    ((("policy.yaml", "stop_loss_pct: 8.0", "stop_loss_pct: 150"),), None,
     "policy.yaml:52: risk.stop_loss_pct: must be > 0 and < 100 (got 150)"),
    ((("policy.yaml", "daily_stop_pnl_pct: -3.0", "daily_stop_pnl_pct: '-3%'"),), None,
     "policy.yaml:24: risk.daily_stop_pnl_pct: must be a number (got '-3%')"),
    ((("policy.yaml", "tier2: 0.012", "tier2: 1.2"),), None,
     "policy.yaml:139: strategy.base_position_pct.tier2: must be > 0 and <= 1 (got 1.2)"),
    ((("policy.yaml", "L2: 10.0", "L2: 110"),), None,
     "policy.yaml:19: risk.max_per_theme_pct.L2: must be > 0 and <= 100 (got 110)"),
    ((("universe.yaml", "exit_mult: 0.95", "exit_mult: 1.2"),), None,
     "universe.yaml:29: eligibility_hysteresis.volume_24h.exit_mult: must be > 0 and <= 1 "
     "(got 1.2)"),
    # Copied values are checked by our models and traced back to the source line.
    ((("policy.yaml", "max_total_at_risk_pct: 95.0", "max_total_at_risk_pct: 150"),), None,
     "policy.yaml:6: risk.max_total_at_risk_pct: must be > 0 and <= 100 (got 150) (written to "
     "policy.yaml risk.max_total_at_risk_pct)"),
    ((("universe.yaml", "  - PUMP-USD", "  - pump usd"),), None,
     "universe.yaml:31: exclusions.never_trade: must be a symbol like BTC-USD, BTC/USD or BTC "
     "(upper-case letters/digits) (got 'PUMP USD') (written to universe.yaml "
     "exclusions.never_trade[4])"),
])
def test_bad_value_is_named_by_file_line_key_and_nothing_is_written(
    v2_dir: Callable[..., Path], tmp_path: Path, edits: tuple[tuple[str, str, str], ...],
    prepend: dict[str, str] | None, expected: str,
) -> None:
    target = tmp_path / "out"
    result = run(v2_dir(*edits, prepend=prepend), target)
    assert expected in result.errors, result.errors
    assert not result.written and not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["v2"]  # no temporary directory left


def test_missing_files_are_all_named(v2_dir: Callable[..., Path], tmp_path: Path) -> None:
    source = v2_dir(drop=("universe.yaml", "app.yaml"))
    result = run(source, tmp_path / "out")
    assert result.errors == [f"universe.yaml: file not found in {source}",
                             f"app.yaml: file not found in {source}"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, expected", [
    ("risk:\n  max_open_positions: [\n", "policy.yaml:3: YAML syntax error"),
    ("risk:\n  stop_loss_pct: 8\n  stop_loss_pct: 9\n",
     "policy.yaml:3: risk.stop_loss_pct: duplicate key (first on line 2)"),
    ("- a list\n", "policy.yaml:1: top level must be a mapping of keys"),
])
def test_unreadable_source_file(v2_dir: Callable[..., Path], tmp_path: Path, text: str,
                                expected: str) -> None:
    source = v2_dir()
    (source / "policy.yaml").write_text(text)
    result = run(source, tmp_path / "out")
    assert any(e.startswith(expected) for e in result.errors), result.errors


def test_unknown_key_is_listed_as_unrecognised_not_silently_dropped(
    v2_dir: Callable[..., Path], tmp_path: Path
) -> None:
    source = v2_dir(("policy.yaml", "  max_drawdown_pct: 10.0\n",
                     "  max_drawdown_pct: 10.0\n  max_leverage: 2\n"))
    result = run(source, tmp_path / "out")
    assert result.ok and result.written
    unknown = row(result, "policy.yaml", "risk.max_leverage")
    assert unknown.status is Status.UNRECOGNISED
    assert "Unexplained keys: **1**" in result.texts["MIGRATION.md"]


def test_target_must_be_new_or_empty_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = run(REAL, target)
    assert result.usage_error and not result.written
    assert "is not empty" in result.errors[0]
    forced = run(REAL, target, force=True)
    assert forced.written
    assert sorted(p.name for p in target.iterdir()) == [
        "MIGRATION.md", "config.json", "keep.txt", "policy.yaml", "universe.yaml"]


def test_cli_exit_codes(tmp_path: Path, v2_dir: Callable[..., Path],
                        capsys: pytest.CaptureFixture[str]) -> None:
    bad = v2_dir(("policy.yaml", "stop_loss_pct: 8.0", "stop_loss_pct: -8"))
    assert migrate_main(["--from", str(bad), "--to", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "❌ policy.yaml:52: risk.stop_loss_pct: must be > 0 and < 100 (got -8)" in err
    assert "nothing was written" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert migrate_main(["--from", str(REAL), "--to", str(tmp_path / "full")]) == 2
    assert migrate_main(["--from", str(tmp_path / "nope"), "--to", str(tmp_path / "b")]) == 1
    assert "not a directory" in capsys.readouterr().err
