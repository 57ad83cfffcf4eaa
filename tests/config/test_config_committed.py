"""The committed config files load clean, match the model defaults, and their schemas are fresh."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.config.conftest import POLICY, SCHEMA_DIR, UNIVERSE
from trader247.configfiles import (
    check_files,
    json_schemas,
    load_both,
    load_policy,
    load_universe,
    main,
    write_json_schemas,
)
from trader247.core.config import PolicyConfig, UniverseConfig, cross_check, normalize_symbol

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
    assert universe.tier_of("BTC/USD") == "tier_1_core"
    assert universe.tier_of("SHIB-USD") is None


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


def test_cli_check(capsys: pytest.CaptureFixture[str], write: Callable[[str, Any], Path]) -> None:
    assert main(["--check", str(POLICY), str(UNIVERSE), "--live"]) == 0
    bad = write("policy.yaml", {"risk": {"max_total_at_risk_pct": 80.0}})
    assert main(["--check", str(bad), str(UNIVERSE), "--live"]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2: risk.max_total_at_risk_pct: a live config" in err
    assert main(["--check", str(bad), str(UNIVERSE), "--dry-run"]) == 0


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
