"""Pairlist refresh cost: TieredLiquidityPairList vs stock VolumePairList + SpreadFilter.

Both run through freqtrade's own PairListManager on the same 800 Coinbase-shaped tickers
(``info.volume_24h`` in base units, ``info.approximate_quote_24h_volume`` in USD, bid/ask so
SpreadFilter has work to do), in the same process and run. The exchange is freqtrade's real
``Exchange`` class built without network (``validate=False``) with markets and tickers patched in,
as freqtrade's own tests do. Goal: ours <= 1.0x stock and < 20 ms per refresh.

Run: ``.venv/bin/python bench/pairlist.py`` (``make bench``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from unittest.mock import PropertyMock, patch

import _smoke

REPO = Path(__file__).resolve().parents[1]
PAIRS = 800
REPEATS = 200


def markets_and_tickers(seed: int = 7) -> tuple[dict[str, Any], dict[str, Any]]:
    rng = random.Random(seed)
    markets: dict[str, Any] = {}
    tickers: dict[str, Any] = {}
    bases = ["BTC", "ETH", "SOL"] + [f"C{i:03d}" for i in range(PAIRS - 3)]
    for base in bases:
        pair = f"{base}/USD"
        price = rng.lognormvariate(0, 2)
        usd_volume = rng.lognormvariate(14.5, 1.6)
        markets[pair] = {
            "symbol": pair, "base": base, "quote": "USD", "active": True, "spot": True,
            "type": "spot", "linear": None, "inverse": None, "contract": False,
            "precision": {"amount": 1e-8, "price": 1e-8}, "limits": {
                "amount": {"min": 1e-8, "max": None}, "cost": {"min": 1.0, "max": None},
                "price": {"min": None, "max": None}, "leverage": {"min": None, "max": None}},
        }
        spread = price * rng.uniform(0.0001, 0.01)
        tickers[pair] = {
            "symbol": pair, "last": price, "bid": price - spread / 2, "ask": price + spread / 2,
            "baseVolume": usd_volume / price, "quoteVolume": usd_volume,
            "timestamp": None, "datetime": None,
            "info": {"product_id": pair.replace("/", "-"), "volume_24h": str(usd_volume / price),
                     "approximate_quote_24h_volume": str(usd_volume), "price": str(price)},
        }
    return markets, tickers


def config(pairlists: list[dict[str, Any]]) -> dict[str, Any]:
    from freqtrade.configuration import Configuration
    from freqtrade.enums import RunMode

    base = Configuration.from_files([str(REPO / "config" / "config.json")])
    base.update({"pairlists": pairlists, "runmode": RunMode.DRY_RUN, "dry_run": True})
    base["exchange"]["pair_whitelist"] = []
    return base


def time_refresh(pairlists: list[dict[str, Any]], markets: dict[str, Any],
                 tickers: dict[str, Any], repeats: int) -> tuple[float, float, int]:
    from freqtrade.exchange import Exchange
    from freqtrade.plugins.pairlistmanager import PairListManager

    cfg = config(pairlists)
    with patch.object(Exchange, "markets", new_callable=PropertyMock, return_value=markets), \
            patch.object(Exchange, "get_tickers", return_value=tickers), \
            patch.object(Exchange, "exchange_has", return_value=True), \
            patch.object(Exchange, "get_option", return_value=True):
        exchange = Exchange(cfg, validate=False, load_leverage_tiers=False)
        manager = PairListManager(exchange, cfg)
        samples = []
        handler_samples = []
        for _ in range(repeats):
            for handler in manager._pairlist_handlers:  # defeat both sides' refresh caches
                if hasattr(handler, "_pair_cache"):
                    handler._pair_cache.clear()
                if hasattr(handler, "_next_refresh"):
                    handler._next_refresh = 0.0
            manager._get_cached_tickers.cache_clear() if hasattr(
                manager._get_cached_tickers, "cache_clear") else None
            start = time.perf_counter()
            manager.refresh_pairlist()
            samples.append(time.perf_counter() - start)
            handlers = manager._pairlist_handlers
            for handler in handlers:
                if hasattr(handler, "_pair_cache"):
                    handler._pair_cache.clear()
                if hasattr(handler, "_next_refresh"):
                    handler._next_refresh = 0.0
            start = time.perf_counter()
            pairs = handlers[0].gen_pairlist(tickers)
            for handler in handlers[1:]:
                pairs = handler.filter_pairlist(pairs, tickers)
            handler_samples.append(time.perf_counter() - start)
        return (statistics.median(samples) * 1000, statistics.median(handler_samples) * 1000,
                len(manager.whitelist))


def main() -> int:
    import logging

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _smoke.add_flag(parser)
    args = parser.parse_args()
    repeats = 2 if args.smoke else REPEATS
    logging.disable(logging.WARNING)
    markets, tickers = markets_and_tickers()
    stock_ms, stock_handlers_ms, stock_n = time_refresh(
        [{"method": "VolumePairList", "number_assets": PAIRS, "sort_key": "quoteVolume",
          "min_value": 3_000_000, "refresh_period": 0},
         {"method": "SpreadFilter", "max_spread_ratio": 0.005}], markets, tickers, repeats)
    ours_ms, ours_handlers_ms, ours_n = time_refresh(
        [{"method": "TieredLiquidityPairList", "refresh_period": 0}], markets, tickers, repeats)
    print(f"pairlist refresh, {PAIRS} Coinbase-shaped tickers, median of {repeats}")
    print("                                     manager.refresh  handlers only")
    print(f"  stock VolumePairList + SpreadFilter: {stock_ms:9.2f} ms  {stock_handlers_ms:9.2f} ms"
          f"  ({stock_n} pairs)")
    print(f"  TieredLiquidityPairList:             {ours_ms:9.2f} ms  {ours_handlers_ms:9.2f} ms"
          f"  ({ours_n} pairs)")
    print(f"  ratio ours / stock:                  {ours_ms / stock_ms:9.2f}x  "
          f"{ours_handlers_ms / stock_handlers_ms:9.2f}x   (goal <= 1.0x and < 20 ms)")
    return _smoke.exit_code(args.smoke, ours_handlers_ms < 20 and ours_ms <= stock_ms)


if __name__ == "__main__":
    sys.exit(main())
