"""Live mode (no --dry-run) on the replay exchange: real order lifecycles through freqtrade.

One real ``freqtrade trade`` process per scenario, trading with its own API key on a replay
account; the exchange's books are reconciled on every look (``LiveReplay.account``).
"""

from __future__ import annotations

import os
import signal
import time
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.live import (  # noqa: F401 - fixtures
    LIMIT_ENTRY_MARKET_EXIT,
    LiveReplay,
    live_bots,
    live_replay_factory,
    wait_for,
    wallet_vs_exchange,
)
from tests.e2e.support import REPO, Bot, http, policy_file
from trader247.cli.processes import free_port
from trader247.metrics.scrape import scrape

pytestmark = pytest.mark.e2e

ORDER_TYPES = LIMIT_ENTRY_MARKET_EXIT


def trades(bot: Bot) -> dict[str, dict[str, Any]]:
    """Open (``/status``) and closed (``/trades``) trades by pair."""
    closed = {t["pair"]: t for t in bot.get("trades?limit=50")["trades"]}
    return {**closed, **{t["pair"]: t for t in bot.get("status")}}


def settled(bot: Bot) -> bool:
    return not any(t["has_open_orders"] for t in bot.get("status"))


def exchange_orders(replay: LiveReplay, account: str) -> int:
    return int(replay.account(account)["orders"])


def cap_order_extra(tmp_path: Path) -> dict[str, Any]:
    """The live order types and the cap's pairlist with the shipped policy (its exporter on a
    free port)."""
    policy = policy_file(tmp_path, port=free_port())
    return {"order_types": ORDER_TYPES, "unfilledtimeout": {"entry": 60, "exit": 60,
                                                            "unit": "minutes"},
            "pairlists": [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                           "policy_file": str(policy),
                           "universe_file": str(REPO / "config" / "universe.yaml")}]}


def test_live_entries_exits_partial_fills_and_an_ambiguous_create(
        tmp_path: Path, live_replay_factory: Callable[..., LiveReplay],  # noqa: F811
        live_bots: Callable[..., Bot]) -> None:  # noqa: F811
    replay = live_replay_factory()
    # Our order path (idempotent creates, market fills) is installed by ExposureCapMixin, the part
    # that owns orders: a strategy with the cap (5 % of the $10,000 account at most here, far
    # under the shipped 25 %, so the cap decides nothing in this scenario).
    bot = live_bots(replay, replay.key("live-1"), extra=cap_order_extra(tmp_path),
                    strategy="CapProbeStrategy")

    # 1. the answer to a create is lost three times (the guard's retries included) after the
    #    exchange accepted the order: freqtrade sees an error, the exchange has one order
    replay.fault(kind="http_5xx", endpoint="create_order", pair="BTC/USD", status=503,
                 after_accept=True, max_hits=3)
    with pytest.raises(urllib.error.HTTPError):
        bot.post("forceenter", {"pair": "BTC/USD", "stakeamount": 200})
    assert exchange_orders(replay, "live") == 1
    # the next entry on that pair reuses the id: the exchange returns the order it accepted
    bot.post("forceenter", {"pair": "BTC/USD", "stakeamount": 200})
    wait_for(lambda: "BTC/USD" in trades(bot) and settled(bot), 30, "the BTC entry")
    assert exchange_orders(replay, "live") == 1

    # 2. a market entry filled in part (the rest of the IOC order is cancelled)
    replay.fault(kind="partial_fill", pair="ETH/USD", fraction=0.5, max_hits=1)
    bot.post("forceenter", {"pair": "ETH/USD", "stakeamount": 200})
    wait_for(lambda: "ETH/USD" in trades(bot) and settled(bot), 30, "the ETH entry")
    eth = trades(bot)["ETH/USD"]
    assert eth["is_open"] and 0 < eth["stake_amount"] < 110  # half of the 200 USD order

    # 3. a resting limit entry, filled in part at the moment freqtrade cancels it
    sol_bid, _ = replay.best("SOL-USD")
    bot.post("forceenter", {"pair": "SOL/USD", "ordertype": "limit",
                            "price": round(sol_bid * 0.9, 2), "stakeamount": 100})
    sol = wait_for(lambda: trades(bot).get("SOL/USD"), 30, "the SOL order")
    assert sol["has_open_orders"] and replay.account("live")["open_orders"]
    replay.fault(kind="fill_on_cancel", fraction=0.5, max_hits=1)
    http("DELETE", f"{bot.api}/api/v1/trades/{sol['trade_id']}/open-order")
    wait_for(lambda: settled(bot), 30, "the SOL cancel")
    sol = trades(bot)["SOL/USD"]
    assert sol["is_open"] and sol["amount"] > 0  # the filled half is kept as the position

    # 4. exit everything: market sells, never more than the wallet holds
    bot.post("forceexit", {"tradeid": "all"})
    wait_for(lambda: not bot.get("status"), 60, "all exits")
    assert all(not t["is_open"] for t in trades(bot).values())
    wallet, exchange = wallet_vs_exchange(bot, replay, "live")
    assert wallet.keys() == exchange.keys()
    for currency, total in exchange.items():
        assert wallet[currency] == pytest.approx(total, rel=1e-9, abs=1e-12), currency
    # dust of the quote-sized market buys (Coinbase fills them to 16 decimals) may remain
    assert all(total < 1e-6 for c, total in exchange.items() if c != "USD")


@pytest.mark.slow
def test_kill_9_with_open_live_orders_then_restart_recovers_every_order(
        tmp_path: Path, live_replay_factory: Callable[..., LiveReplay],  # noqa: F811
        live_bots: Callable[..., Bot]) -> None:  # noqa: F811
    replay = live_replay_factory()
    key = replay.key("live-1")
    # [G2] with the cap (CapProbeStrategy, shipped policy, exporter on a free port): after the
    # restart its exposure must be the exchange's
    metrics_port = free_port()
    policy = policy_file(tmp_path, port=metrics_port)
    extra = {"order_types": ORDER_TYPES, "unfilledtimeout": {"entry": 60, "exit": 60,
                                                             "unit": "minutes"},
             "pairlists": [{"method": "TieredLiquidityPairList", "refresh_period": 300,
                            "policy_file": str(policy),
                            "universe_file": str(REPO / "config" / "universe.yaml")}]}
    bot = live_bots(replay, key, name="first", db="kill9.sqlite", extra=extra,
                    strategy="CapProbeStrategy")
    bot.post("forceenter", {"pair": "BTC/USD", "stakeamount": 200})  # filled at once
    for pair, factor in (("ETH/USD", 0.995), ("SOL/USD", 0.8)):
        bid, _ = replay.best(pair.replace("/", "-"))
        bot.post("forceenter", {"pair": pair, "ordertype": "limit",
                                "price": round(bid * factor, 2), "stakeamount": 150})
    wait_for(lambda: len(replay.account("live")["open_orders"]) == 2, 30, "two resting orders")
    os.kill(bot.process.pid, signal.SIGKILL)
    bot.process.wait(timeout=10)
    # while the bot is down, ETH falls through its order's price: the order fills
    replay.control("price_script", {"pair": "ETH/USD", "duration_s": 5, "to_multiplier": 0.98})
    time.sleep(6)
    assert len(replay.account("live")["open_orders"]) in (1, 2)
    again = live_bots(replay, key, name="second", db="kill9.sqlite", extra=extra,
                      strategy="CapProbeStrategy")
    wait_for(lambda: len(replay.account("live")["open_orders"]) == 1 and settled_or_open(again),
             60, "the restarted bot to catch up")
    state = {t["pair"]: t for t in again.get("status")}
    assert set(state) == {"BTC/USD", "ETH/USD", "SOL/USD"}
    assert not state["BTC/USD"]["has_open_orders"]
    assert state["ETH/USD"]["amount"] > 0  # filled while the bot was down, recovered
    assert state["SOL/USD"]["has_open_orders"]  # still resting, still known
    known = {o["order_id"] for t in state.values() for o in t["orders"]}
    assert set(replay.account("live")["open_orders"]) <= known
    wallet, exchange = wallet_vs_exchange(again, replay, "live")
    for currency, total in exchange.items():
        assert wallet.get(currency, 0.0) == pytest.approx(total, rel=1e-9, abs=1e-12), currency
    assert_cap_matches_exchange(again, replay, metrics_port, state["SOL/USD"])


def assert_cap_matches_exchange(bot: Bot, replay: LiveReplay, metrics_port: int,
                                resting: dict[str, Any]) -> None:
    """The restarted cap's exposure (its /metrics) is the exchange's: coins at the replay's mid
    price, plus the stake of the entry order still resting there."""
    time.sleep(2.5)  # one more iteration publishes the state after the catch-up
    metrics = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
    balances = {c: float(v) for c, v in replay.account("live")["balances"].items()}
    held = 0.0
    for currency, amount in balances.items():
        if currency != "USD":
            bid, ask = replay.best(f"{currency}-USD")
            held += amount * (bid + ask) / 2
    order = next(o for o in resting["orders"] if o["is_open"])
    entering = (order["amount"] - (order["filled"] or 0.0)) * order["safe_price"]
    assert metrics['trader247_exposure_at_risk_stake{currency="USD"}'] == pytest.approx(
        held + entering, rel=0.005)
    assert metrics['trader247_exposure_equity_stake{currency="USD"}'] == pytest.approx(
        balances["USD"] + held, rel=0.001)
    assert metrics['trader247_cap_state{state="ACTIVE"}'] == 1.0
    assert metrics["trader247_trims_open"] == 0.0


def settled_or_open(bot: Bot) -> bool:
    status = bot.get("status")
    return len(status) == 3 and sum(t["has_open_orders"] for t in status) == 1
