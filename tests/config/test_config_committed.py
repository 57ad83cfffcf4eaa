"""The committed config files load clean, match the model defaults, and their schemas are fresh."""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.config.conftest import POLICY, SCHEMA_DIR, UNIVERSE
from trader247.cli import main as cli_main
from trader247.configfiles import (
    check_files,
    json_schemas,
    load_both,
    load_policy,
    load_universe,
    main,
    write_json_schemas,
)
from trader247.core import volume
from trader247.core.config import PolicyConfig, UniverseConfig, cross_check, normalize_symbol
from trader247.core.exposure import CapPolicy
from trader247.core.universe import TierRule, UniverseRules, evaluate_universe, tier_of

CATALOG_TIERS = {
    "tier_1_core": ["BTC", "ETH", "SOL"],
    "tier_2_rotational": [
        "ADA",
        "XRP",
        "DOGE",
        "AVAX",
        "LINK",
        "LTC",
        "DOT",
        "POL",
        "NEAR",
        "ATOM",
    ],
    "tier_3_event_driven": ["UNI", "XLM", "AAVE", "ICP", "FIL", "GRT", "ALGO", "SUI"],
}


@pytest.mark.parametrize("dry_run", [None, True, False])
def test_committed_files_load_and_cross_check_clean(dry_run: bool | None) -> None:
    assert check_files(POLICY, UNIVERSE, dry_run=dry_run) == []
    policy, universe = load_both(POLICY, UNIVERSE, dry_run=dry_run)
    assert cross_check(policy, universe, dry_run=dry_run) == []


def test_committed_files_equal_the_model_defaults() -> None:
    # The files document the defaults: a key deleted from a file changes nothing.
    assert load_policy(POLICY) == PolicyConfig()
    assert load_universe(UNIVERSE) == UniverseConfig()


def test_committed_universe_follows_the_pair_catalog() -> None:
    universe = load_universe(UNIVERSE)
    assert list(universe.tiers) == list(CATALOG_TIERS)
    for name, bases in CATALOG_TIERS.items():
        tier = universe.tiers[name]
        assert list(tier.symbols) == [f"{b}-USD" for b in bases]  # Coinbase form, like the seed
    core = universe.tiers["tier_1_core"]
    assert core.constraints.force_eligible_symbols == ("BTC-USD", "ETH-USD", "SOL-USD")
    floors = [t.constraints.min_24h_volume_usd for t in universe.tiers.values()]
    assert floors == [10_000_000, 5_000_000, 2_000_000]
    assert universe.exclusions.never_trade == ("BONK-USD",)


def test_committed_files_build_the_core_objects() -> None:
    """The one mapping from the models to the core (``to_core``), on the files we ship."""
    policy, universe = load_both(POLICY, UNIVERSE)
    cap = policy.risk.to_core(policy.trims, universe.clusters)
    assert (cap.max_total_at_risk_pct, cap.trim_band_pct, cap.target_pct) == (25.0, 2.0, 23.0)
    assert (cap.trim_interval_cycles, cap.trim_timeout_seconds, cap.max_trims_per_cycle) == (
        3, 75.0, 3)
    assert (cap.trim_on_start, cap.trim_mode, cap.reentry_cooldown_cycles) == (
        True, "proportional", 6)
    assert (cap.count_external_holdings, cap.trims_enabled) == (False, True)
    assert not cap.cluster_limits.enabled  # theme / asset caps off as shipped
    rules = universe.to_core(policy.liquidity)
    assert [(t.name, t.floor_usd) for t in rules.tiers] == [
        ("tier_1_core", 10e6), ("tier_2_rotational", 5e6), ("tier_3_event_driven", 2e6)]
    assert rules.tiers[0].force_eligible == {"BTC/USD", "ETH/USD", "SOL/USD"}
    assert rules.never_trade == {"BONK/USD"} and rules.global_floor_usd == 3e6
    assert rules.stablecoins == {"USDT", "USDC", "DAI", "PYUSD", "USDS", "EURC"}
    assert rules.pegged_quotes == {"USDC", "USDT"}
    assert (rules.exit_band, rules.min_universe_size, rules.suspect_ratio) == (0.10, 7, 100.0)
    assert rules.volume_source == "quote_first" and rules.exclude_stablecoin_bases is True
    # the one tier look-up (the core's): exact pairs, any spelling, pairs in no tier
    assert [tier_of(p, rules) for p in ("BTC/USD", "XRP-USD", "SHIB-USD")] == [
        rules.tiers[0], rules.tiers[1], None]


@pytest.mark.parametrize("core_class", [CapPolicy, UniverseRules, TierRule])
def test_core_value_objects_have_no_defaults(core_class: type) -> None:
    """Defaults live in the models only: a core object built without a value is an error."""
    fields = [f for f in dataclasses.fields(core_class) if f.init]
    assert [f.name for f in fields if f.default is not dataclasses.MISSING
            or f.default_factory is not dataclasses.MISSING] == []


@pytest.mark.parametrize(("function", "settings"), [
    (volume.usd_volume, ("pegged_quotes", "source", "suspect_ratio")),
    (volume.build_usd_price_index, ("pegged_quotes",)),
    (evaluate_universe, ("max_ticker_age_s",)),
])
def test_core_functions_take_settings_without_defaults(
    function: Callable[..., Any], settings: tuple[str, ...]
) -> None:
    parameters = inspect.signature(function).parameters
    assert [p for p in settings if parameters[p].default is not inspect.Parameter.empty] == []


def test_committed_policy_has_the_seed_values() -> None:
    policy = load_policy(POLICY)
    assert policy.risk.max_total_at_risk_pct == 25.0
    assert policy.liquidity.min_24h_volume_usd == 3_000_000
    assert (policy.risk.trim_interval_cycles, policy.risk.trim_timeout_seconds) == (3, 75)
    assert policy.metrics.port == 9090
    # The seed's fix 1 names policy.yaml line 49 for the cap.
    lines = POLICY.read_text(encoding="utf-8").splitlines()
    assert lines[48].strip().startswith("max_total_at_risk_pct:")


@pytest.mark.parametrize("path, schema", [(POLICY, "policy"), (UNIVERSE, "universe")])
def test_committed_files_point_editors_at_the_schema(path: Path, schema: str) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"# yaml-language-server: $schema=schema/{schema}.schema.json"


def test_committed_schemas_are_fresh() -> None:
    """Regenerate with: python -m trader247.configfiles --write-schemas config/schema"""
    for name, text in json_schemas().items():
        committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: run the command in this test's docstring"


def test_write_json_schemas(tmp_path: Path) -> None:
    written = write_json_schemas(tmp_path / "out")
    assert sorted(p.name for p in written) == ["policy.schema.json", "universe.schema.json"]
    schema = json.loads((tmp_path / "out" / "policy.schema.json").read_text(encoding="utf-8"))
    risk = schema["$defs"]["RiskConfig"]["properties"]["max_total_at_risk_pct"]
    assert (risk["exclusiveMinimum"], risk["maximum"], risk["default"]) == (0, 100, 25.0)
    assert schema["additionalProperties"] is False


def test_committed_files_validate_as_a_live_bot(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["validate", "--yaml", str(POLICY), str(UNIVERSE), "--live"]) == 0
    assert capsys.readouterr().out == "✅ All configuration files are valid!\n"


def test_schema_cli_writes_the_schemas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--write-schemas", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(json_schemas())
    assert capsys.readouterr().out.count("wrote ") == 2


def test_normalize_symbol() -> None:
    assert [normalize_symbol(s) for s in ("BTC-USD", "BTC/USD", "BTC", "1INCH-USDC")] == [
        "BTC/USD",
        "BTC/USD",
        "BTC",
        "1INCH/USDC",
    ]
    for bad in ("btc-usd", "BTC_USD", "BTC-", "", "BTC/USD:USD", "A-B-C"):
        with pytest.raises(ValueError):
            normalize_symbol(bad)


def test_the_plugins_and_the_tests_build_the_same_core_objects(
    cap_policy: CapPolicy, universe_rules: UniverseRules
) -> None:
    """The tests' fixtures (tests/shipped.py) and the plugins' loader (adapters/settings.py) go
    the same way from the shipped files to the core: what the tests test is what runs."""
    from trader247.adapters.settings import load_settings

    settings = load_settings({"config_files": [str(POLICY.parent / "config.json")],
                              "dry_run": True, "pairlists": [
                                  {"method": "TieredLiquidityPairList"}]})
    assert (settings.policy_path, settings.universe_path) == (POLICY, UNIVERSE)
    assert settings.cap_policy == cap_policy
    assert settings.universe_rules == universe_rules
