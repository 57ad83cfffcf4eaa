"""Core objects for the monitoring tests (and only those): exposures, trim plans, universes."""

from __future__ import annotations

from collections.abc import Mapping

from tests.shipped import shipped_cap_policy, shipped_universe_rules
from trader247.core.exposure import CapPolicy, Exposure, Position, Snapshot, measure
from trader247.core.trims import TrimPlan, TrimState, plan_trims
from trader247.core.universe import (
    MarketInfo,
    TierRule,
    UniverseResult,
    UniverseRules,
    UniverseState,
    evaluate_universe,
)
from trader247.core.volume import TickerSnapshot

NOW = 1_700_000_000.0
MAX_TICKER_AGE_S = 300.0  # TieredLiquidityPairList's default max_ticker_age_s
POLICY = shipped_cap_policy(trim_interval_cycles=1)  # config/policy.yaml, a round every cycle


def exposure(at_risk: float, equity: float, policy: CapPolicy = POLICY) -> Exposure:
    """An exposure with ``at_risk`` held in one BTC position and the rest as stake balance."""
    return measure(snapshot(at_risk, equity), policy)


def snapshot(at_risk: float, equity: float) -> Snapshot:
    positions = [Position("BTC/USD", at_risk / 50_000.0, 50_000.0)] if at_risk else []
    return Snapshot(equity - at_risk, tuple(positions))


def spread_snapshot(values: Mapping[str, float], balance: float) -> Snapshot:
    return Snapshot(balance, tuple(Position(p, v / 10.0, 10.0) for p, v in values.items()))


def plan(
    snap: Snapshot, state: TrimState, cycle: int, policy: CapPolicy = POLICY
) -> TrimPlan:
    return plan_trims(snap, policy, min_stake=1.0, state=state, cycle=cycle, now=NOW + cycle)


CORE = frozenset({"BTC/USD", "ETH/USD", "SOL/USD"})
TIER2 = frozenset({"ADA/USD", "XRP/USD", "DOGE/USD", "AVAX/USD", "LINK/USD"})
RULES = shipped_universe_rules(  # config/universe.yaml with a shorter tier 2, no tier 3
    tiers=(
        TierRule("tier_1_core", CORE, 10_000_000, force_eligible=CORE),
        TierRule("tier_2_rotational", TIER2, 5_000_000, force_eligible=frozenset()),
    ),
)


def ticker(pair: str, usd_volume: float | None, *, timestamp: float = NOW) -> TickerSnapshot:
    base, _, quote = pair.partition("/")
    return TickerSnapshot(pair, base, quote, 1.0, usd_volume, None, timestamp)


def universe(
    volumes: Mapping[str, float | None],
    *,
    previous: UniverseState | None = None,
    inactive: frozenset[str] = frozenset({"OLD/USD"}),
    rules: UniverseRules = RULES,
) -> UniverseResult:
    """``volumes``: pair -> 24h USD volume (None: quoted in a currency without a USD price)."""
    markets = []
    tickers = {}
    for pair, volume in volumes.items():
        base, _, quote = pair.partition("/")
        markets.append(MarketInfo(pair, base, quote, pair not in inactive))
        if volume is None:
            tickers[pair] = TickerSnapshot(pair, base, quote, 1.0, 1_000.0, None, NOW)
        else:
            tickers[pair] = ticker(pair, volume)
    return evaluate_universe(markets, tickers, rules, previous, max_ticker_age_s=MAX_TICKER_AGE_S, now=NOW)


def forty_pairs() -> dict[str, float | None]:
    """A 40-pair universe touching every reason code the rules can produce from tickers."""
    volumes: dict[str, float | None] = {p: 1e9 for p in sorted(CORE)}
    volumes.update({"ADA/USD": 9e6, "XRP/USD": 8e6, "DOGE/USD": 4e6, "AVAX/USD": 6e6,
                    "LINK/USD": 1e6})
    for i in range(27):
        volumes[f"ALT{i}/USD"] = 1e6 * (i + 1) / 3
    volumes["USDT/USD"] = 5e8  # STABLECOIN
    volumes["BONK/USD"] = 5e7  # EXCLUDED
    volumes["FOO/XYZ"] = None  # NO_USD_PRICE
    volumes["BAR/XYZ"] = None  # NO_USD_PRICE
    volumes["OLD/USD"] = 5e7  # inactive
    assert len(volumes) == 40
    return volumes
