"""A cluster cap trimmed in LIVE mode (no --dry-run) on the replay exchange ([M] phase 2).

Dry-run fills at once and never rejects, so the order side is proven live: a live bot holds
BTC and ETH (cluster L1, capped at 10 %) and SOL (no cluster); BTC rallies 40 % on the
exchange, L1 goes over its cap while the total stays far under 25 %. The cap must place trims
as real exchange orders on BTC and ETH only, name the cluster, take no global lock, and leave
L1 at or under its cap once they fill.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.clusters import write_cluster_files
from tests.e2e.live import (  # noqa: F401 - fixtures
    LiveReplay,
    live_bots,
    live_replay_factory,
    wait_for,
)
from tests.e2e.support import Bot, wait_for_log

pytestmark = pytest.mark.e2e
ORDER_TYPES = {"entry": "market", "exit": "market", "emergency_exit": "market",
               "force_entry": "market", "force_exit": "market", "stoploss": "market",
               "stoploss_on_exchange": False}
L1_CAP = 10.0


def l1_pct(bot: Bot) -> float:
    """L1 at-risk % of equity at the bot's current rates (its REST API)."""
    trades = bot.get("status")
    held = {t["pair"]: t["amount"] * t["current_rate"] for t in trades}
    balance = bot.get("balance")
    equity = float(balance["total"])
    return 100 * (held.get("BTC/USD", 0.0) + held.get("ETH/USD", 0.0)) / equity


def test_a_cluster_over_its_cap_is_trimmed_with_live_orders_inside_the_cluster_only(
        tmp_path: Path, live_replay_factory: Callable[..., LiveReplay],  # noqa: F811
        live_bots: Callable[..., Bot]) -> None:  # noqa: F811
    policy, universe = write_cluster_files(tmp_path / "cfg", {"L1": L1_CAP},
                                           {"L1": ["BTC", "ETH"]})
    replay = live_replay_factory()
    bot = live_bots(replay, replay.key("live-1"), strategy="CapProbeStrategy", extra={
        "order_types": ORDER_TYPES,
        "pairlists": [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                       "policy_file": str(policy), "universe_file": str(universe)}]})
    for pair, stake in (("BTC/USD", 500), ("ETH/USD", 400), ("SOL/USD", 500)):
        bot.post("forceenter", {"pair": pair, "stakeamount": stake})
    wait_for(lambda: len(bot.get("status")) == 3 and not any(
        t["has_open_orders"] for t in bot.get("status")), 60, "the three entries")
    assert l1_pct(bot) < L1_CAP * 23 / 25  # entered under L1's target (9.2 %)

    replay.control("price_script", {"pair": "BTC/USD", "duration_s": 10,
                                    "from_multiplier": 1.0, "to_multiplier": 1.4})
    log = wait_for_log(bot.log, r"TRIM_ROUND: .*CLUSTER_OVER_CAP: cluster=L1", timeout=120,
                       process=bot.process)
    log = wait_for_log(bot.log, r"trim filled: pair=(BTC|ETH)/USD", count=2, timeout=120,
                       process=bot.process)
    wait_for(lambda: not any(t["has_open_orders"] for t in bot.get("status")), 60,
             "the trims to settle")
    filled = set(re.findall(r"trim filled: pair=(\w+/USD)", bot.log.read_text()))
    assert filled == {"BTC/USD", "ETH/USD"}, filled  # inside the cluster only
    assert "TRIM_CLUSTER: pair=" not in log or "pair=SOL/USD cluster" not in log
    assert not [lock for lock in bot.get("locks")["locks"]
                if lock["reason"].startswith("EXPOSURE_OVER_CAP")]  # no global lock
    # BTC keeps rising for the rest of the 10 s script: later rounds may follow; once prices
    # stop, L1 ends at or under its cap (trimmed to its target), SOL never sold.
    wait_for(lambda: l1_pct(bot) <= L1_CAP, 90, "L1 back under its cap")
    sol = next(t for t in bot.get("status") if t["pair"] == "SOL/USD")
    assert len([o for o in sol["orders"] if o["ft_order_side"] == "sell"]) == 0
    assert "Traceback" not in bot.log.read_text()
