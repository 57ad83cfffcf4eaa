"""Every limit exactly at, just under and just over, through the whole YAML path.

A value the model accepts must also build the core's objects (``to_core()``): the core validates
its inputs too, and the two must agree at every boundary (they once disagreed on
``suspect_ratio`` 1 and on a zero floor).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.config.conftest import dump
from trader247.configfiles import ConfigFileError, parse_policy, parse_universe
from trader247.core.config import PolicyConfig, Problem, UniverseConfig, cross_check


def _risk(**kw: Any) -> dict[str, Any]:
    return {"risk": {"trim_band_pct": 0.0, **kw}}


POLICY_CASES = [
    # (policy, dry_run, error path or None)
    (_risk(max_total_at_risk_pct=0), None, "risk.max_total_at_risk_pct"),
    (_risk(max_total_at_risk_pct=-0.01), None, "risk.max_total_at_risk_pct"),
    (_risk(max_total_at_risk_pct=0.01), None, None),
    (_risk(max_total_at_risk_pct=100, acknowledge_high_cap_live=True), False, None),
    (_risk(max_total_at_risk_pct=100), None, None),
    (_risk(max_total_at_risk_pct=100.01), None, "risk.max_total_at_risk_pct"),
    (_risk(trim_interval_cycles=0), None, "risk.trim_interval_cycles"),
    (_risk(trim_interval_cycles=1), None, None),
    (_risk(trim_timeout_seconds=0), None, "risk.trim_timeout_seconds"),
    (_risk(trim_timeout_seconds=0.001), None, None),
    (_risk(max_trims_per_cycle=0), None, "risk.max_trims_per_cycle"),
    (_risk(max_trims_per_cycle=1), None, None),
    (_risk(reentry_cooldown_cycles=-1), None, "risk.reentry_cooldown_cycles"),
    (_risk(reentry_cooldown_cycles=0), None, None),
    (_risk(max_total_at_risk_pct=25, trim_band_pct=25), None, "risk.trim_band_pct"),
    (_risk(max_total_at_risk_pct=25, trim_band_pct=24.99), None, None),
    (_risk(trim_band_pct=-0.01), None, "risk.trim_band_pct"),
    # Live (dry_run=False) with a cap above 25 needs the acknowledgement.
    (_risk(max_total_at_risk_pct=25), False, None),
    (_risk(max_total_at_risk_pct=26), False, "risk.max_total_at_risk_pct"),
    (_risk(max_total_at_risk_pct=26, acknowledge_high_cap_live=True), False, None),
    (_risk(max_total_at_risk_pct=26), True, None),
    (_risk(max_total_at_risk_pct=26), None, None),  # unknown yet: a warning only
    ({"liquidity": {"exit_band": 0}}, None, None),
    ({"liquidity": {"exit_band": 0.99}}, None, None),
    ({"liquidity": {"exit_band": 1}}, None, "liquidity.exit_band"),
    ({"liquidity": {"suspect_ratio": 1}}, None, "liquidity.suspect_ratio"),
    ({"liquidity": {"suspect_ratio": 1.0001}}, None, None),
    ({"liquidity": {"min_universe_size": 0}}, None, None),
    ({"liquidity": {"min_universe_size": -1}}, None, "liquidity.min_universe_size"),
    ({"liquidity": {"min_24h_volume_usd": 0}}, None, "liquidity.min_24h_volume_usd"),
    ({"liquidity": {"min_24h_volume_usd": 0.01}}, None, None),
    ({"strategy": {"reentry_cooldown_hours": -0.01}}, None, "strategy.reentry_cooldown_hours"),
    ({"strategy": {"reentry_cooldown_hours": 0}}, None, None),
    ({"strategy": {"reentry_cooldown_hours": 1000}}, None, None),
    ({"strategy": {"reentry_cooldown_hours": 1000.01}}, None, "strategy.reentry_cooldown_hours"),
    ({"strategy": {"exit_band_scale": 5}}, None, None),
    ({"strategy": {"exit_band_scale": 5.01}}, None, "strategy.exit_band_scale"),
    ({"strategy": {"exit": "trailing"}}, None, None),
    ({"strategy": {"exit": "atr"}}, None, "strategy.exit"),
    ({"strategy": {"market_filter": "yes"}}, None, "strategy.market_filter"),
    ({"strategy": {"band": "volatility", "stake": "volatility"}}, None, None),
    ({"strategy": {"band": "atr"}}, None, "strategy.band"),
    ({"strategy": {"stake": "equal"}}, None, "strategy.stake"),
    ({"strategy": {"volatility_hours": 0}}, None, "strategy.volatility_hours"),
    ({"strategy": {"volatility_hours": 1000}}, None, None),
    ({"strategy": {"volatility_hours": 1000.01}}, None, "strategy.volatility_hours"),
    ({"strategy": {"reference_volatility_pct": 0}}, None, "strategy.reference_volatility_pct"),
    ({"strategy": {"reference_volatility_pct": 0.01}}, None, None),
    ({"strategy": {"volatility_stake_min_scale": 1}}, None, None),
    ({"strategy": {"volatility_stake_min_scale": 1.01}}, None,
     "strategy.volatility_stake_min_scale"),
    ({"strategy": {"volatility_stake_min_scale": 0}}, None, "strategy.volatility_stake_min_scale"),
    ({"strategy": {"momentum_top_n": 0}}, None, None),
    ({"strategy": {"momentum_top_n": -1}}, None, "strategy.momentum_top_n"),
    ({"strategy": {"momentum_top_n": 1.5}}, None, "strategy.momentum_top_n"),
    ({"metrics": {"port": 0}}, None, "metrics.port"),
    ({"metrics": {"port": 1}}, None, None),
    ({"metrics": {"port": 65535}}, None, None),
    ({"metrics": {"port": 65536}}, None, "metrics.port"),
    ({"shutdown": {"liquidate_timeout_seconds": 0}}, None, "shutdown.liquidate_timeout_seconds"),
    ({"shutdown": {"stop_grace_seconds": 0}}, None, "shutdown.stop_grace_seconds"),
    ({"sizing": {"default_stake_pct": 100}}, None, None),
    ({"sizing": {"default_stake_pct": 100.01}}, None, "sizing.default_stake_pct"),
    ({"sizing": {"tier_stake_pct": {"t": 0}}}, None, "sizing.tier_stake_pct.t"),
]


@pytest.mark.parametrize("policy, dry_run, error_path", POLICY_CASES)
def test_policy_limits(
    policy: dict[str, Any], dry_run: bool | None, error_path: str | None
) -> None:
    text = dump(policy)
    if error_path is None:
        parsed = parse_policy(text, file="p.yaml", dry_run=dry_run)
        parsed.risk.to_core(parsed.trims, UniverseConfig().clusters)
        UniverseConfig().to_core(parsed.liquidity)
        return
    with pytest.raises(ConfigFileError) as info:
        parse_policy(text, file="p.yaml", dry_run=dry_run)
    assert [p.format().split(": ")[1] for p in info.value.errors] == [error_path]
    assert str(info.value).startswith("p.yaml:")  # every problem carries a line


def _tier(symbols: list[str], floor: float, force: list[str] | None = None) -> dict[str, Any]:
    constraints: dict[str, Any] = {"min_24h_volume_usd": floor}
    if force is not None:
        constraints["force_eligible_symbols"] = force
    return {"symbols": symbols, "constraints": constraints}


def _universe(*tiers: dict[str, Any], never: list[str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"tiers": {f"tier_{i + 1}": t for i, t in enumerate(tiers)}}
    if never is not None:
        data["exclusions"] = {"never_trade": never}
    return data


UNIVERSE_CASES = [
    # (universe, error paths)
    (_universe(_tier(["BTC-USD"], 10e6), _tier(["ADA-USD"], 10e6)), []),  # T1 == T2 ok
    (
        _universe(_tier(["BTC-USD"], 10e6), _tier(["ADA-USD"], 10e6 + 1)),
        ["tiers.tier_2.constraints.min_24h_volume_usd"],
    ),
    (
        _universe(_tier(["BTC-USD"], 10e6), _tier(["ADA-USD"], 5e6), _tier(["UNI-USD"], 5e6 + 1)),
        ["tiers.tier_3.constraints.min_24h_volume_usd"],
    ),
    (_universe(_tier(["BTC-USD"], -1)), ["tiers.tier_1.constraints.min_24h_volume_usd"]),
    (_universe(_tier(["BTC-USD"], 0)), ["tiers.tier_1.constraints.min_24h_volume_usd"]),
    (_universe(_tier(["BTC-USD"], 0.01)), []),
    # one symbol, one tier: compared normalised
    (_universe(_tier(["BTC-USD"], 10e6), _tier(["BTC/USD"], 5e6)), ["tiers.tier_2.symbols[0]"]),
    (
        _universe(_tier(["BTC/USD"], 10e6), _tier(["ADA-USD", "BTC-USD"], 5e6)),
        ["tiers.tier_2.symbols[1]"],
    ),
    (_universe(_tier(["BTC"], 10e6), _tier(["BTC"], 5e6)), ["tiers.tier_2.symbols[0]"]),
    # an exact pair beats a bare base (universe core rule): a warning, not an error
    (_universe(_tier(["BTC-USD"], 10e6), _tier(["BTC"], 5e6)), []),
    (_universe(_tier(["BTC-USD", "BTC-USD"], 10e6)), []),  # listed twice in one tier: warning
    # force-eligible symbols must belong to their tier
    (_universe(_tier(["BTC-USD"], 10e6, ["BTC-USD"])), []),
    (_universe(_tier(["BTC-USD"], 10e6, ["BTC/USD"])), []),
    (_universe(_tier(["BTC"], 10e6, ["BTC-USD"])), []),  # a bare base covers the pair
    (
        _universe(_tier(["BTC-USD"], 10e6, ["BTC"])),
        ["tiers.tier_1.constraints.force_eligible_symbols[0]"],
    ),
    (
        _universe(_tier(["BTC-USD"], 10e6, ["ETH-USD"])),
        ["tiers.tier_1.constraints.force_eligible_symbols[0]"],
    ),
    (
        _universe(_tier(["BTC-USD"], 10e6), _tier(["ETH-USD"], 5e6, ["BTC-USD"])),
        ["tiers.tier_2.constraints.force_eligible_symbols[0]"],
    ),
    # never_trade and a tier
    (_universe(_tier(["BTC-USD"], 10e6), never=["BONK-USD"]), []),
    (
        _universe(_tier(["BTC-USD", "BONK-USD"], 10e6), never=["BONK/USD"]),
        ["tiers.tier_1.symbols[1]"],
    ),
    (_universe(_tier(["BTC-USD", "BONK-USD"], 10e6), never=["BONK"]), ["tiers.tier_1.symbols[1]"]),
    (_universe(_tier(["BONK"], 10e6), never=["BONK-USDC"]), ["tiers.tier_1.symbols[0]"]),
    (_universe(), ["tiers"]),  # at least one tier
]


@pytest.mark.parametrize("universe, error_paths", UNIVERSE_CASES)
def test_universe_limits(universe: dict[str, Any], error_paths: list[str]) -> None:
    text = dump(universe)
    if not error_paths:
        parse_universe(text, file="u.yaml").to_core(PolicyConfig().liquidity)
        return
    with pytest.raises(ConfigFileError) as info:
        parse_universe(text, file="u.yaml")
    assert [p.format().split(": ")[1] for p in info.value.errors] == error_paths


def _paths(problems: list[Problem], severity: str) -> list[str]:
    return [p.format().split(": ")[1] for p in problems if p.severity == severity]


@pytest.mark.parametrize(
    "cap, ack, dry_run, errors, warnings",
    [
        (25.0, False, False, [], []),
        (26.0, False, False, ["risk.max_total_at_risk_pct"], []),
        (26.0, True, False, [], []),
        (26.0, False, True, [], []),
        (26.0, False, None, [], ["risk.max_total_at_risk_pct"]),
        (80.0, True, None, [], []),
    ],
)
def test_live_high_cap_acknowledgement(
    cap: float, ack: bool, dry_run: bool | None, errors: list[str], warnings: list[str]
) -> None:
    policy = PolicyConfig.model_validate(
        {"risk": {"max_total_at_risk_pct": cap, "acknowledge_high_cap_live": ack}}
    )
    problems = cross_check(policy, UniverseConfig(), dry_run=dry_run)
    assert (_paths(problems, "error"), _paths(problems, "warning")) == (errors, warnings)


def test_cross_file_warnings() -> None:
    policy = PolicyConfig.model_validate(
        {"sizing": {"tier_stake_pct": {"tier_1_cor": 3.0}, "default_stake_pct": 30.0}}
    )
    universe = UniverseConfig.model_validate(
        {"tiers": {"tier_1_core": _tier(["BTC-USD", "USDT-USD"], 10e6)}}
    )
    problems = cross_check(policy, universe, dry_run=True, policy_file="p", universe_file="u")
    assert _paths(problems, "error") == []
    text = "\n".join(p.format() for p in problems)
    assert (
        "p: sizing.tier_stake_pct.tier_1_cor: warning: no tier tier_1_cor in u (did you "
        "mean tier_1_core?)" in text
    )
    assert "p: sizing.default_stake_pct: warning: one entry of 30% exceeds the at-risk cap" in text
    assert "u: tiers.tier_1_core.symbols[1]: warning: USDT-USD has a stablecoin base" in text
