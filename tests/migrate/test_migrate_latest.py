"""``trader247 migrate`` on the original bot's newest files (``fixtures/v2_latest``): every key
explained, and the sections older versions lack (exits, outcome cooldowns, profiles, request
budgets, latency, AI) where freqtrade has a home for them. Keys whose meaning depends on the
rest of their version (the ``exits:`` switches, the stray profile key) are tested with it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.migrate.conftest import LATEST
from trader247.migrate.build import migrate
from trader247.migrate.cli import main as migrate_main
from trader247.migrate.model import Migration, Row, Status

V2 = Callable[..., Path]
SOURCES = ("policy.yaml:", "universe.yaml:", "app.yaml:")


def run(source: Path, target: Path, **kwargs: Any) -> Migration:
    result = migrate(source, target, check_freqtrade=False, **kwargs)
    assert result.ok, result.errors
    return result


def row(result: Migration, file: str, key: str) -> Row:
    found = [r for r in result.rows if r.leaf.file == file and r.leaf.key == key]
    assert len(found) == 1, (file, key, found)
    return found[0]


def config(result: Migration) -> dict[str, Any]:
    return dict(json.loads(result.texts["config.json"]))


def protections(result: Migration) -> list[dict[str, Any]]:
    return list(yaml.safe_load(result.texts["policy.yaml"]).get("protections", []))


@pytest.fixture(scope="module")
def latest(tmp_path_factory: pytest.TempPathFactory) -> Migration:
    return run(LATEST, tmp_path_factory.mktemp("out") / "migrated")


def test_cli_on_the_newest_files_prints_unexplained_0_and_explains_every_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's check, with freqtrade's own config validation of the written files."""
    assert migrate_main(["--from", str(LATEST), "--to", str(tmp_path / "out"), "--explain"]) == 0
    out = capsys.readouterr().out
    assert "494 source keys: " in out and "; unexplained: 0" in out
    assert "⚠️" not in out  # no key unknown, no warning of the validator
    assert "Unexplained keys: **0**" in (tmp_path / "out" / "MIGRATION.md").read_text()
    lines = [line.strip() for line in out.splitlines()]
    assert sum(line.startswith(SOURCES) for line in lines) == 494  # --explain: one per key
    for line in (
        "policy.yaml:72: risk.stop_loss_pct: mapped -> config.json stoploss = -0.1 (freqtrade's "
        "stoploss (a ratio; it overrides the strategy's hard floor, per-trigger stops stay "
        "inside it))",
        "policy.yaml:63: risk.per_symbol_cooldown_win_minutes: covered by: the CooldownPeriod "
        "of 15 min above (trade spacing 15 min, win cooldown 10 min: the longer)",
        "policy.yaml:80: exits.trailing_stop_pct: dropped: exits.use_trailing_stop is not true: "
        "the original did not trail",
    ):
        assert line in lines


@pytest.mark.parametrize("file, key, status, target, value", [
    ("policy.yaml", "profile", "mapped", "profiles.day_trader", None),
    ("policy.yaml", "profiles.swing_trader.tier_sizing.T1", "dropped", "", None),
    ("policy.yaml", "profiles.day_trader.tier_sizing.T2", "mapped",
     "policy.yaml sizing.tier_stake_pct.tier_2_rotational", 2.0),
    ("policy.yaml", "strategy.base_position_pct.tier2", "covered differently", "", None),
    ("policy.yaml", "risk.stop_loss_pct", "mapped", "config.json stoploss", -0.1),
    ("policy.yaml", "risk.take_profit_pct", "mapped", "config.json minimal_roi", {"0": 0.12}),
    ("policy.yaml", "exits.use_trailing_stop", "mapped", "config.json trailing_stop", False),
    ("policy.yaml", "exits.trailing_stop_pct", "dropped", "", None),
    ("policy.yaml", "exits.exit_order_type", "mapped", "config.json order_types.exit", "limit"),
    ("policy.yaml", "exits.check_max_hold", "covered differently", "", None),
    ("policy.yaml", "exits.widen_targets_in_bull", "dropped", "", None),
    ("policy.yaml", "risk.per_symbol_trade_spacing_seconds", "mapped",
     "protection CooldownPeriod", {"method": "CooldownPeriod", "stop_duration": 15}),
    ("policy.yaml", "risk.per_symbol_cooldown_win_minutes", "covered differently",
     "protection CooldownPeriod", None),
    ("policy.yaml", "risk.per_symbol_cooldown_loss_minutes", "mapped", "protection LowProfitPairs",
     {"method": "LowProfitPairs", "trade_limit": 1, "required_profit": 0.0,
      "lookback_period": 60, "stop_duration": 60}),
    ("policy.yaml", "risk.per_symbol_cooldown_minutes", "covered differently", "", None),
    ("policy.yaml", "rate_limits.public", "mapped",
     "config.json exchange.ccxt_async_config.rateLimit", 100),
    ("policy.yaml", "rate_limits.private", "covered differently",
     "config.json exchange.ccxt_config.rateLimit", None),
    ("policy.yaml", "rate_limits.endpoints.get_ohlcv", "covered differently", "", None),
    ("policy.yaml", "rate_limits.alert_threshold", "dropped", "", None),
    ("policy.yaml", "latency.stage_budgets.trigger_scan", "dropped", "", None),
    ("policy.yaml", "loop.jitter_pct", "dropped", "", None),
    ("policy.yaml", "strategy.reversal_confirmation.qualifiers", "covered differently", "", None),
    ("app.yaml", "exchange.rate_limit.private", "mapped", "config.json exchange.ccxt_config.rateLimit",
     200),
    ("app.yaml", "ai.dual_trader.arbiter.model", "dropped", "", None),
    ("app.yaml", "ai_trader.max_position_pct", "dropped", "", None),
])
def test_mapping_of_the_newest_sections(latest: Migration, file: str, key: str, status: str,
                                        target: str, value: Any) -> None:
    found = row(latest, file, key)
    assert (found.status.value, found.target) == (status, target), found.note
    if value is not None:
        assert found.value == value


def test_every_key_of_the_newest_files_has_a_row_and_none_is_unexplained(
    latest: Migration
) -> None:
    assert len(latest.rows) == 494
    assert latest.count(Status.UNRECOGNISED) == 0
    assert all(r.note for r in latest.rows)
    assert "ignored: conservative, swing_trader" in row(latest, "policy.yaml", "profile").note
    assert row(latest, "policy.yaml", "profiles.conservative.min_conviction").note == (
        "inactive profile (profile: day_trader)")


def test_newest_files_become_freqtrade_settings(latest: Migration) -> None:
    written = config(latest)
    assert (written["stoploss"], written["trailing_stop"], written["minimal_roi"]) == (
        -0.1, False, {"0": 0.12})
    assert (written["order_types"]["entry"], written["order_types"]["exit"]) == ("limit", "limit")
    assert written["entry_pricing"]["price_side"] == "same"  # post-only entries: own side
    assert written["exit_pricing"]["price_side"] == "other"  # limit_ioc exits: fill at once
    assert written["max_open_trades"] == 8
    assert (written["exchange"]["ccxt_config"]["rateLimit"],
            written["exchange"]["ccxt_async_config"]["rateLimit"]) == (200, 100)
    policy = yaml.safe_load(latest.texts["policy.yaml"])
    assert policy["sizing"]["tier_stake_pct"] == {
        "tier_1_core": 3.0, "tier_2_rotational": 2.0, "tier_3_event_driven": 0.7}
    assert protections(latest)[3:] == [
        {"method": "CooldownPeriod", "stop_duration": 15},
        {"method": "StoplossGuard", "trade_limit": 3, "lookback_period": 1440,
         "stop_duration": 60, "required_profit": 0.0},
        {"method": "StoplossGuard", "trade_limit": 1, "only_per_pair": True,
         "lookback_period": 120, "stop_duration": 120, "required_profit": 0.0},
        {"method": "LowProfitPairs", "trade_limit": 1, "required_profit": 0.0,
         "lookback_period": 60, "stop_duration": 60},
    ]


# ------------------------------------------------------------------------------ exits


TRAIL_ON = ("policy.yaml", "use_trailing_stop: false", "use_trailing_stop: true")


def trail(pct: str) -> tuple[str, str, str]:
    return ("policy.yaml", "trailing_stop_pct: 5.0", f"trailing_stop_pct: {pct}")


@pytest.mark.parametrize("edits, expected, stop_row", [
    # Trail tighter than the 10 % stop, or as tight: it is the stop from the entry on.
    ((TRAIL_ON,), {"stoploss": -0.05, "trailing_stop": True}, "covered differently"),
    ((TRAIL_ON, trail("10.0")), {"stoploss": -0.1, "trailing_stop": True},
     "covered differently"),
    # Wider: the fixed stop holds until the trade is in profit, then the trail.
    ((TRAIL_ON, trail("10.5")), {"stoploss": -0.1, "trailing_stop": True,
                                 "trailing_stop_positive": 0.105,
                                 "trailing_stop_positive_offset": 0.0}, "mapped"),
    # The original did not act on its stop: only the trail is carried over.
    ((TRAIL_ON, ("policy.yaml", "check_stop_loss: true", "check_stop_loss: false")),
     {"stoploss": -0.05, "trailing_stop": True}, "dropped"),
])
def test_trailing_stop(v2_dir: V2, tmp_path: Path, edits: tuple[tuple[str, str, str], ...],
                       expected: dict[str, Any], stop_row: str) -> None:
    result = run(v2_dir(*edits, base=LATEST), tmp_path / "out")
    written = config(result)
    assert {k: written[k] for k in written if k.startswith(("stoploss", "trailing"))} == expected
    assert row(result, "policy.yaml", "risk.stop_loss_pct").status.value == stop_row
    assert row(result, "policy.yaml", "exits.trailing_stop_pct").status is Status.MAPPED


def test_wider_trailing_stop_passes_freqtrades_validation(v2_dir: V2, tmp_path: Path) -> None:
    result = migrate(v2_dir(TRAIL_ON, trail("15.0"), base=LATEST), tmp_path / "out")
    assert result.ok and result.written, result.errors
    assert config(result)["trailing_stop_positive"] == 0.15


@pytest.mark.parametrize("edit, absent, dropped", [
    (("check_stop_loss: true", "check_stop_loss: false"), ("stoploss",), ("risk.stop_loss_pct",)),
    (("check_take_profit: true", "check_take_profit: false"), ("minimal_roi",),
     ("risk.take_profit_pct",)),
    (("  enabled: true\n  check_stop_loss", "  enabled: false\n  check_stop_loss"),
     ("stoploss", "minimal_roi"),
     ("risk.stop_loss_pct", "risk.take_profit_pct", "exits.exit_order_type",
      "exits.check_max_hold", "exits.enabled")),
])
def test_exit_checks_off_mean_the_original_never_acted_on_the_value(
    v2_dir: V2, tmp_path: Path, edit: tuple[str, str], absent: tuple[str, ...],
    dropped: tuple[str, ...]
) -> None:
    result = run(v2_dir(("policy.yaml", *edit), base=LATEST), tmp_path / "out")
    written = config(result)
    assert [key for key in absent if key in written] == []
    assert [key for key in dropped
            if row(result, "policy.yaml", key).status is not Status.DROPPED] == []


def test_exits_off_leave_exit_orders_like_entries(v2_dir: V2, tmp_path: Path) -> None:
    result = run(v2_dir(("policy.yaml", "  enabled: true\n  check_stop_loss",
                         "  enabled: false\n  check_stop_loss"), base=LATEST), tmp_path / "out")
    assert config(result)["exit_pricing"]["price_side"] == "same"


@pytest.mark.parametrize("kind, order, side", [
    ("market", "market", "other"), ("limit_ioc", "limit", "other"),
    ("limit_post_only", "limit", "same")])
def test_exit_order_type(v2_dir: V2, tmp_path: Path, kind: str, order: str, side: str) -> None:
    result = run(v2_dir(("policy.yaml", "exit_order_type: limit_ioc", f"exit_order_type: {kind}"),
                        base=LATEST), tmp_path / "out")
    written = config(result)
    assert (written["order_types"]["exit"], written["exit_pricing"]["price_side"]) == (order, side)
    assert written["order_types"]["entry"] == "limit"


def test_unknown_exit_order_type_is_an_error(v2_dir: V2, tmp_path: Path) -> None:
    result = migrate(v2_dir(("policy.yaml", "exit_order_type: limit_ioc", "exit_order_type: fok"),
                            base=LATEST), tmp_path / "out", check_freqtrade=False)
    assert ("policy.yaml:81: exits.exit_order_type: must be one of limit_post_only, limit, "
            "market, limit_ioc (got 'fok')") in result.errors


# ------------------------------------------------------------------------------ cooldowns


@pytest.mark.parametrize("win, minutes", [(10, 15), (15, 15), (16, 16)])
def test_trade_spacing_and_win_cooldown_are_one_cooldown_period_the_longer(
    v2_dir: V2, tmp_path: Path, win: int, minutes: int
) -> None:
    result = run(v2_dir(("policy.yaml", "per_symbol_cooldown_win_minutes: 10",
                         f"per_symbol_cooldown_win_minutes: {win}"), base=LATEST),
                 tmp_path / "out")
    assert [p for p in protections(result) if p["method"] == "CooldownPeriod"] == [
        {"method": "CooldownPeriod", "stop_duration": minutes}]


def test_per_symbol_cooldowns_off_leave_only_the_trade_spacing(v2_dir: V2, tmp_path: Path) -> None:
    result = run(v2_dir(("policy.yaml", "per_symbol_cooldown_enabled: true",
                         "per_symbol_cooldown_enabled: false"), base=LATEST), tmp_path / "out")
    per_pair = [p for p in protections(result) if p["method"] != "MaxDrawdown"
                and p.get("trade_limit") != 3]
    assert per_pair == [{"method": "CooldownPeriod", "stop_duration": 15}]
    for key in ("minutes", "after_stop", "win_minutes", "loss_minutes"):
        assert row(result, "policy.yaml", f"risk.per_symbol_cooldown_{key}").status is (
            Status.DROPPED)


def test_before_outcome_cooldowns_the_base_cooldown_is_the_loss_lock(
    v2_dir: V2, tmp_path: Path
) -> None:
    result = run(v2_dir(("policy.yaml", "  per_symbol_cooldown_loss_minutes: 60\n", ""),
                        base=LATEST), tmp_path / "out")
    assert row(result, "policy.yaml", "risk.per_symbol_cooldown_minutes").value == {
        "method": "LowProfitPairs", "trade_limit": 1, "required_profit": 0.0,
        "lookback_period": 30, "stop_duration": 30}


# ------------------------------------------------------------------------------ profiles


def test_a_value_right_under_profiles_is_not_a_profile(v2_dir: V2, tmp_path: Path) -> None:
    """One version (da85805) indents min_trade_notional under profiles: itself."""
    result = run(v2_dir(("policy.yaml", "risk:\n  max_total_at_risk_pct",
                         "  min_trade_notional: 15.0\nrisk:\n  max_total_at_risk_pct"),
                        base=LATEST), tmp_path / "out")
    stray = row(result, "policy.yaml", "profiles.min_trade_notional")
    assert stray.status is Status.DROPPED and "never read profiles.min_trade_notional" in stray.note
    assert result.count(Status.UNRECOGNISED) == 0


@pytest.mark.parametrize("profile, stakes, ignored", [
    ("conservative", [1.5, 1.0, 0.5], "ignored: swing_trader, day_trader"),
    ("swing_trader", [2.0, 1.2, 0.5], "ignored: conservative, day_trader"),
])
def test_the_selected_profile_applies(v2_dir: V2, tmp_path: Path, profile: str,
                                      stakes: list[float], ignored: str) -> None:
    result = run(v2_dir(("policy.yaml", "profile: day_trader", f"profile: {profile}"),
                        base=LATEST), tmp_path / "out")
    policy = yaml.safe_load(result.texts["policy.yaml"])
    assert list(policy["sizing"]["tier_stake_pct"].values()) == stakes
    assert ignored in row(result, "policy.yaml", "profile").note
    assert row(result, "policy.yaml", f"profiles.{profile}.min_conviction").status is (
        Status.COVERED)


def test_without_profile_key_no_profile_applies(v2_dir: V2, tmp_path: Path) -> None:
    result = run(v2_dir(("policy.yaml", "profile: day_trader\n", ""), base=LATEST),
                 tmp_path / "out")
    assert row(result, "policy.yaml", "profiles.day_trader.tier_sizing.T1").note.startswith(
        "no profile: key selects a profile")
    assert row(result, "policy.yaml", "strategy.base_position_pct.tier1").status is Status.MAPPED
    assert "buy_conviction" in row(result, "policy.yaml",
                                   "strategy.min_conviction_to_propose").note


# ------------------------------------------------------------------------------ universe, budgets


@pytest.mark.parametrize("global_floor, order", [
    (5000000, ["tier_1_core", "tier_2_rotational", "tier_3_event_driven"]),
    (8000000, ["tier_1_core", "tier_3_event_driven", "tier_2_rotational"]),
])
def test_a_tier_without_a_floor_gets_the_global_floor(
    v2_dir: V2, tmp_path: Path, global_floor: int, order: list[str]
) -> None:
    result = run(v2_dir(
        ("universe.yaml", "      min_24h_volume_usd: 2000000  # Reduced from $5M to $2M "
         "(event-driven tokens)\n", ""),
        ("policy.yaml", "min_24h_volume_usd: 5000000", f"min_24h_volume_usd: {global_floor}"),
        base=LATEST), tmp_path / "out")
    universe = yaml.safe_load(result.texts["universe.yaml"])
    assert list(universe["tiers"]) == order
    assert universe["tiers"]["tier_3_event_driven"]["constraints"]["min_24h_volume_usd"] == (
        global_floor)
    assert any("tiers.tier_3_event_driven has no constraints.min_24h_volume_usd" in note
               for note in result.defaults)


@pytest.mark.parametrize("budgets, sync_ms, async_ms", [
    # policy.yaml rate_limits public/private, app.yaml exchange.rate_limit public/private (/s)
    ((10, 15, 10, 5), 200, 100),      # the newest files: app private is the strictest
    ((10, 15, 20, 50), 100, 100),     # policy public: strictest public and of all
    ((30, 15, 20, 50), 67, 50),       # policy private strictest of all, app public of public
    ((1000, 1000, 1000, 1000), 1, 1),
    ((3, 1000, 1000, 1000), 334, 334),  # 1000 / 3 rounded up: never faster than the budget
])
def test_request_budgets_become_ccxts_throttle(
    v2_dir: V2, tmp_path: Path, budgets: tuple[int, int, int, int], sync_ms: int, async_ms: int
) -> None:
    policy_public, policy_private, app_public, app_private = budgets
    result = run(v2_dir(("policy.yaml", "  public: 10.0", f"  public: {policy_public}"),
                        ("policy.yaml", "  private: 15.0", f"  private: {policy_private}"),
                        ("app.yaml", "    public: 10", f"    public: {app_public}"),
                        ("app.yaml", "    private: 5", f"    private: {app_private}"),
                        base=LATEST), tmp_path / "out")
    exchange = config(result)["exchange"]
    assert (exchange["ccxt_config"]["rateLimit"], exchange["ccxt_async_config"]["rateLimit"]) == (
        sync_ms, async_ms)


def test_request_budget_of_0_is_an_error(v2_dir: V2, tmp_path: Path) -> None:
    result = migrate(v2_dir(("policy.yaml", "  public: 10.0", "  public: 0"), base=LATEST),
                     tmp_path / "out", check_freqtrade=False)
    assert "policy.yaml:358: rate_limits.public: must be > 0 and <= 1000 (got 0)" in result.errors


def test_a_directory_without_a_freqtrade_user_dir_migrates_with_one_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user migrating before `freqtrade create-userdir`: freqtrade's check would refuse the
    config ("Directory user_data does not exist"); migrate checks it against a new user dir."""
    monkeypatch.chdir(tmp_path)
    assert not (tmp_path / "user_data").exists()
    assert migrate_main(["--from", str(LATEST), "--to", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.count("no freqtrade user directory here (./user_data)") == 1
    assert "freqtrade create-userdir --userdir user_data" in out
    assert "unexplained: 0" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "MIGRATION.md", "config.json", "policy.yaml", "universe.yaml"]
    assert not (tmp_path / "user_data").exists()  # the check's user dir was a throw-away
