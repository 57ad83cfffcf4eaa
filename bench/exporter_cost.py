"""Exporter cost per bot iteration: what src/trader247/metrics adds to freqtrade's loop.

One iteration = ``observe_iteration`` + ``update_cap`` (with a trim plan and moving TrimState
counters) + ``update_universe`` with a 40-pair result (every reason code the rules produce from
tickers), the calls the adapters make per bot iteration (the universe really changes only every
``refresh_period``, so this over-counts it). Timed one iteration at a time with
``time.perf_counter`` over ~2000 iterations; compared with a bare ``prometheus_client``
``Gauge.set`` loop of the same count. Goal: median < 1 ms.

Run: ``.venv/bin/python bench/exporter_cost.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

import _smoke
from trader247.configfiles import load_both
from trader247.core.exposure import CapState, Position, Snapshot
from trader247.core.trims import TrimState, plan_trims
from trader247.core.universe import MarketInfo, TierRule, UniverseResult, evaluate_universe
from trader247.core.volume import TickerSnapshot
from trader247.metrics.exporter import Metrics

ITERATIONS = 2000
WARMUP = 200
NOW = 1_700_000_000.0
MAX_TICKER_AGE_S = 300.0  # TieredLiquidityPairList's default max_ticker_age_s
CONFIG = Path(__file__).resolve().parents[1] / "config"
SHIPPED_POLICY, SHIPPED_UNIVERSE = load_both(CONFIG / "policy.yaml", CONFIG / "universe.yaml")


def universe_40() -> UniverseResult:
    core = frozenset({"BTC/USD", "ETH/USD", "SOL/USD"})
    tier2 = frozenset({"ADA/USD", "XRP/USD", "DOGE/USD", "AVAX/USD", "LINK/USD"})
    rules = replace(SHIPPED_UNIVERSE.to_core(SHIPPED_POLICY.liquidity),
                    tiers=(TierRule("tier_1_core", core, 10e6, force_eligible=core),
                           TierRule("tier_2_rotational", tier2, 5e6, frozenset())))
    volumes: dict[str, float | None] = {p: 1e9 for p in sorted(core)}
    volumes.update({"ADA/USD": 9e6, "XRP/USD": 8e6, "DOGE/USD": 4e6, "AVAX/USD": 6e6,
                    "LINK/USD": 1e6, "USDT/USD": 5e8, "BONK/USD": 5e7, "FOO/XYZ": None,
                    "BAR/XYZ": None, "OLD/USD": 5e7})
    for i in range(40 - len(volumes)):
        volumes[f"ALT{i}/USD"] = 1e6 * (i + 1) / 3
    markets = [MarketInfo(p, *p.split("/"), active=p != "OLD/USD") for p in volumes]
    tickers = {p: TickerSnapshot(p, *p.split("/"), 1.0, 1_000.0 if v is None else v, None, NOW)
               for p, v in volumes.items()}
    result = evaluate_universe(markets, tickers, rules, None, max_ticker_age_s=MAX_TICKER_AGE_S,
                               now=NOW)
    assert len(result.decisions) == 40
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _smoke.add_flag(parser)
    args = parser.parse_args()
    iterations, warmup = (20, 2) if args.smoke else (ITERATIONS, WARMUP)
    policy = replace(SHIPPED_POLICY.risk.to_core(SHIPPED_POLICY.trims, SHIPPED_UNIVERSE.clusters),
                     trim_interval_cycles=1)
    snapshot = Snapshot(400.0, tuple(Position(f"P{i}/USD", 10.0, 10.0) for i in range(6)))
    plan = plan_trims(snapshot, policy, min_stake=1.0, state=TrimState(), cycle=1, now=NOW)
    universe = universe_40()
    metrics = Metrics(stake_currency="USD", tiers=("tier_1_core", "tier_2_rotational"))
    # Counters move every iteration so the delta path is measured, not just the no-op.
    states = [replace(plan.trim_state, attempted=i, filled=i // 2, failed=i // 5)
              for i in range(iterations + warmup)]

    ours: list[float] = []
    clock = time.perf_counter
    for i in range(iterations + warmup):
        start = clock()
        metrics.observe_iteration(0.25, now=NOW)
        metrics.update_cap(plan.exposure, CapState.REDUCING, states[i], plan)
        metrics.update_universe(universe, now=NOW)
        elapsed = clock() - start
        if i >= warmup:
            ours.append(elapsed)

    gauge = Gauge("bench_bare", "bare gauge", registry=CollectorRegistry())
    bare: list[float] = []
    for i in range(iterations + warmup):
        start = clock()
        gauge.set(i)
        elapsed = clock() - start
        if i >= warmup:
            bare.append(elapsed)

    ours_med, bare_med = statistics.median(ours), statistics.median(bare)
    print(f"exporter cost per bot iteration, {iterations} iterations (after {warmup} warm-up)")
    print("  observe_iteration + update_cap + update_universe(40 pairs):")
    print(f"    median {ours_med * 1e6:8.1f} us   p95 {percentile(ours, 0.95) * 1e6:8.1f} us")
    print("  bare prometheus_client Gauge.set:")
    print(f"    median {bare_med * 1e6:8.2f} us   p95 {percentile(bare, 0.95) * 1e6:8.2f} us")
    print(f"  ratio ours / bare Gauge.set (median): {ours_med / bare_med:8.1f}x")
    goal = 1e-3
    verdict = "OK" if ours_med < goal else "OVER BUDGET"
    print(f"  goal median < {goal * 1e6:.0f} us: {verdict}")
    return _smoke.exit_code(args.smoke, ours_med < goal)


if __name__ == "__main__":
    sys.exit(main())
