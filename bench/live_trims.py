"""Trim round-trip latency in LIVE mode on the replay: order placed -> fill seen by the bot.

One real ``trader247 run`` live bot (``CapProbeStrategy``: the cap alone, shipped policy,
``trim_timeout_seconds: 75``) holds BTC/ETH/SOL; the replay's prices rally in steps so every
step pushes at-risk over the cap and the bot trims with real market orders. The latency of a
trim is freqtrade's own record of it: ``order_filled_timestamp - order_timestamp`` of every
order tagged ``trim`` (the order's creation, and the moment the bot processed the fill).

Measured twice in the same run, on fresh replays and databases:

- ``trader247``: with ``patches.market_fill`` (the create answer of a market order carries its
  fill, so freqtrade records it in the same iteration);
- ``stock``: ``TRADER247_MARKET_FILL=0``: freqtrade's own polling, the fill is seen in the next
  iteration's ``manage_open_orders``, one ``process_throttle_secs`` later.

Goal: p95 < 5 s with ``trim_timeout_seconds: 75``. ``--throttle`` defaults to the shipped
config's ``process_throttle_secs`` (5 s).

    .venv/bin/python bench/live_trims.py [--steps 4] [--throttle 5]

``--smoke``: one rally step at a 1 s throttle in each mode (``bench/_smoke.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the live set-up lives with the e2e tests

from tests.e2e import live, support  # noqa: E402

import _smoke  # noqa: E402
from trader247.cli.processes import free_port, stop  # noqa: E402

PAIRS = ("BTC/USD", "ETH/USD", "SOL/USD")
ORDER_TYPES = {"entry": "limit", "exit": "market", "emergency_exit": "market",
               "force_entry": "market", "force_exit": "market", "stoploss": "market",
               "stoploss_on_exchange": False}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def trim_latencies(bot: support.Bot) -> list[float]:
    trades = bot.get("status") + bot.get("trades?limit=100")["trades"]
    seen: dict[str, float] = {}
    for trade in trades:
        for order in trade["orders"]:
            if order["ft_order_tag"] == "trim" and order["order_filled_timestamp"]:
                seen[order["order_id"]] = (order["order_filled_timestamp"]
                                           - order["order_timestamp"]) / 1000.0
    return list(seen.values())


def run(mode: str, steps: int, throttle: int, data_dir: Path) -> list[float]:
    os.environ["TRADER247_MARKET_FILL"] = "0" if mode == "stock" else "1"
    live.CHILD_ENV["TRADER247_MARKET_FILL"] = os.environ["TRADER247_MARKET_FILL"]
    with tempfile.TemporaryDirectory(prefix=f"live-trims-{mode}-") as tmp:
        tmp_path = Path(tmp)
        replay = live.start_live_replay(tmp_path, data_dir, accounts={"live": {"USD": "4000"}})
        bot = None
        try:
            policy = support.policy_file(tmp_path, port=free_port())
            # Trims as market (IOC) sells. freqtrade's default order types are limit orders:
            # a limit trim rests on the book and its latency is the market's, not the bot's.
            extra = {"order_types": ORDER_TYPES, "pairs": PAIRS,
                     "internals": {"process_throttle_secs": throttle, "heartbeat_interval": 0},
                     "pairlists": [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                                    "policy_file": str(policy),
                                    "universe_file": str(REPO / "config" / "universe.yaml")}]}
            bot = live.launch_live_bot(tmp_path, replay, replay.key("live-1"), name=mode,
                                       strategy="CapProbeStrategy", extra=extra)
            for n, pair in enumerate(PAIRS, start=1):
                bot.post("forceenter", {"pair": pair, "stakeamount": 300})
                live.wait_for(lambda n=n: len(bot.get("status")) == n and not any(  # type: ignore[misc]
                    t["has_open_orders"] for t in bot.get("status")), 60, pair)
            for step in range(1, steps + 1):
                lifted = bot.log.read_text().count("entries resume (lock lifted)")
                replay.control("price_script", {"duration_s": 2,
                                                "to_multiplier": 1.35})  # compounds
                live.wait_for(lambda lifted=lifted: bot.log.read_text().count(  # type: ignore[misc]
                    "entries resume (lock lifted)") > lifted, 40 * throttle, f"step {step}")
            live.wait_for(lambda: not any(t["has_open_orders"] for t in bot.get("status")),
                          60, "settled")
            assert not re.search(r"Traceback", bot.log.read_text())
            return trim_latencies(bot)
        except AssertionError:
            if bot is not None:
                print(bot.log.read_text()[-6000:], file=sys.stderr)
            raise
        finally:
            if bot is not None:
                stop(bot.process, grace=10.0)
            stop(replay.process, grace=5.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="rally steps (each one trims)")
    parser.add_argument("--throttle", type=int, default=5,
                        help="process_throttle_secs (shipped config: 5)")
    parser.add_argument("--data-dir", type=Path, default=REPO / "user_data" / "data" / "coinbase")
    parser.add_argument("--json", action="store_true", help="one JSON line instead of a table")
    _smoke.add_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.throttle = 1, 1
    results: dict[str, dict[str, Any]] = {}
    for mode in ("trader247", "stock"):
        started = time.monotonic()
        values = run(mode, args.steps, args.throttle, args.data_dir)
        results[mode] = {"trims": len(values), "p50_s": statistics.median(values),
                         "p95_s": percentile(values, 0.95), "max_s": max(values),
                         "wall_s": time.monotonic() - started}
    ratio = results["stock"]["p95_s"] / max(results["trader247"]["p95_s"], 1e-3)
    if args.json:
        print(json.dumps({"throttle_s": args.throttle, **results, "stock_over_ours_p95": ratio}))
        return 0
    print(f"trim round trip in live mode (placed -> fill seen), process_throttle_secs="
          f"{args.throttle:g}, trim_timeout_seconds=75")
    print(f"{'mode':<10} {'trims':>5} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for mode, r in results.items():
        print(f"{mode:<10} {r['trims']:>5} {r['p50_s']:>7.3f} {r['p95_s']:>7.3f} "
              f"{r['max_s']:>7.3f}")
    met = results["trader247"]["p95_s"] < 5.0
    print(f"p95 stock / trader247: {ratio:.1f}x; goal p95 < 5 s: {'met' if met else 'MISSED'}")
    return _smoke.exit_code(args.smoke, met)


if __name__ == "__main__":
    raise SystemExit(main())
