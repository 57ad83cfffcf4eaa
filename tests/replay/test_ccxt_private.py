"""The real ccxt coinbase class, signed with CDP keys, against an in-process replay server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from tests.replay.conftest import KeySet, Running


def client(running: Running, keyset: KeySet, label: str = "acct-1",
           timeout_ms: int = 3000) -> ccxt.coinbase:
    name, secret = keyset.secret(label)
    exchange = ccxt.coinbase({"apiKey": name, "secret": secret, "enableRateLimit": False,
                              "timeout": timeout_ms, "urls": {"api": {"rest": running.url}}})
    exchange.load_markets()
    return exchange


@pytest.fixture
def running(serve: Callable[..., Running], keyset: KeySet) -> Running:
    return serve(keys=keyset.ring)


def test_fleet_keys_trade_one_account_through_ccxt(running: Running, keyset: KeySet) -> None:
    bots = [client(running, keyset, f"acct-{n}") for n in (1, 2, 3)]
    assert bots[0].markets["BTC/USD"]["taker"] == 0.012  # fee tier read in load_markets
    ticker = bots[0].fetch_ticker("BTC/USD")
    # freqtrade's market buy: amount and price, ccxt turns them into quote_size
    order = bots[0].create_order("BTC/USD", "market", "buy", 0.01, ticker["ask"])
    fetched = bots[1].fetch_order(order["id"], "BTC/USD")  # another key, same account
    assert fetched["status"] == "closed" and fetched["filled"] > 0
    assert fetched["cost"] == pytest.approx(0.01 * ticker["ask"] / 1.012, rel=1e-3)
    balances = [b.fetch_balance() for b in bots]
    assert {b["BTC"]["total"] for b in balances} == {fetched["filled"]}
    spent = float(bots[0].cost_to_precision("BTC/USD", 0.01 * ticker["ask"]))  # quote_size
    assert balances[2]["USD"]["total"] == pytest.approx(10_000 - spent, abs=1e-9)
    trades = bots[2].fetch_my_trades("BTC/USD")
    assert sum(t["amount"] for t in trades) == pytest.approx(fetched["filled"])
    assert {t["order"] for t in trades} == {order["id"]} and trades[0]["fee"]["currency"] == "USD"
    other = client(running, keyset, "other-1")
    assert other.fetch_balance()["USD"]["total"] == 1000
    assert other.fetch_my_trades("BTC/USD") == []


def test_resting_limit_order_lifecycle_and_holds(running: Running, keyset: KeySet) -> None:
    bot = client(running, keyset)
    bid = bot.fetch_ticker("ETH/USD")["bid"]
    order = bot.create_order("ETH/USD", "limit", "buy", 0.5, round(bid * 0.8, 2))
    assert [o["id"] for o in bot.fetch_open_orders("ETH/USD")] == [order["id"]]
    v3 = bot.fetch_balance({"v3": True})["USD"]  # v3 accounts show the hold
    assert v3["used"] == pytest.approx(0.5 * round(bid * 0.8, 2) * 1.012)
    assert bot.fetch_balance()["USD"]["free"] == 10_000  # v2 (ccxt's default): total only
    cancelled = bot.cancel_order(order["id"], "ETH/USD")
    assert cancelled["id"] == order["id"]
    assert bot.fetch_order(order["id"])["status"] == "canceled"
    assert [o["id"] for o in bot.fetch_canceled_orders("ETH/USD")] == [order["id"]]
    assert bot.fetch_open_orders() == []
    fees = bot.fetch_trading_fees()
    assert fees["ETH/USD"]["maker"] == 0.006


ERROR_CASES: list[tuple[str, dict[str, Any] | None, type[Exception]]] = [
    ("insufficient", None, ccxt.InsufficientFunds),
    ("too-small", None, ccxt.ExchangeError),
    ("rate-limit", {"kind": "rate_limit_429", "endpoint": "create_order"},
     ccxt.RateLimitExceeded),
    ("5xx-after-accept", {"kind": "http_5xx", "endpoint": "create_order", "status": 503,
                          "after_accept": True}, ccxt.ExchangeNotAvailable),
    ("timeout", {"kind": "timeout", "endpoint": "create_order", "hang_s": 3},
     ccxt.RequestTimeout),
]


@pytest.mark.parametrize(("case", "fault", "error"), ERROR_CASES,
                         ids=[c[0] for c in ERROR_CASES])
def test_order_errors_surface_as_ccxt_exceptions(running: Running, keyset: KeySet, case: str,
                                                 fault: dict[str, Any] | None,
                                                 error: type[Exception]) -> None:
    bot = client(running, keyset, timeout_ms=1000)
    price = bot.fetch_ticker("BTC/USD")["ask"]
    amount = {"insufficient": 1.0, "too-small": 0.00001}.get(case, 0.001)
    if fault is not None:
        running.call("/_replay/faults", "POST", {**fault, "max_hits": 1})
    started = time.monotonic()
    with pytest.raises(error):
        bot.create_order("BTC/USD", "market", "buy", amount, price)
    assert time.monotonic() - started < 2.5
    accepted = case in ("5xx-after-accept", "timeout")
    # the ambiguous outcomes: the order exists although the client saw an error
    assert len(running.exchange.brokerage.orders) == (1 if accepted else 0)


def test_cancel_and_fetch_failures_as_ccxt_reports_them(running: Running,
                                                       keyset: KeySet) -> None:
    bot = client(running, keyset)
    order = bot.create_order("SOL/USD" if "SOL/USD" in bot.markets else "ETH/USD", "market",
                             "buy", 0.01, bot.fetch_ticker("ETH/USD")["ask"])
    with pytest.raises(ccxt.BadRequest):  # cancelling a filled order fails
        bot.cancel_order(order["id"])
    # Coinbase's "order with this orderID was not found": ccxt's Python transpile looks for
    # "order with self orderID ...", so the error stays a generic ExchangeError
    with pytest.raises(ccxt.ExchangeError) as info:
        bot.fetch_order("00000000-0000-0000-0000-000000000000")
    assert not isinstance(info.value, ccxt.OrderNotFound)
    name, _ = keyset.secret("acct-1")
    _, wrong = keyset.secret("other-1")
    forged = ccxt.coinbase({"apiKey": name, "secret": wrong, "enableRateLimit": False,
                            "urls": {"api": {"rest": running.url}}})
    with pytest.raises(ccxt.AuthenticationError):
        forged.fetch_balance()


def test_async_client_creates_fetches_and_cancels(running: Running, keyset: KeySet) -> None:
    name, secret = keyset.secret("acct-2")

    async def scenario() -> tuple[str, str, int]:
        exchange = ccxt_async.coinbase({"apiKey": name, "secret": secret,
                                        "enableRateLimit": False,
                                        "urls": {"api": {"rest": running.url}}})
        try:
            await exchange.load_markets()
            bid = (await exchange.fetch_ticker("ADA/USD"))["bid"]
            order = await exchange.create_order("ADA/USD", "limit", "buy", 100,
                                                round(bid * 0.9, 4))
            opened = await exchange.fetch_order(order["id"])
            await exchange.cancel_order(order["id"])
            closed = await exchange.fetch_order(order["id"])
            orders = await exchange.fetch_orders("ADA/USD")
            return opened["status"], closed["status"], len(orders)
        finally:
            await exchange.close()

    assert asyncio.run(scenario()) == ("open", "canceled", 1)


# ccxt/ccxt ts/src/test/static/response/coinbase.json @ 089cd5cd, fetchMyTrades "Spot trade" and
# fetchClosedOrders "Spot closed order": the recorded item carries "cursor", equal to the page's
# cursor ("114994851", "748478308"). ccxt writes it there itself (coinbase.py fetch_my_trades /
# fetch_orders_by_status: first['cursor'] = cursor) and the recorder saved the parsed answer;
# Coinbase's own examples quoted in coinbase.py have no per-item cursor, nor does the replay.
RECORDED_FILL_INFO = {
    "entry_id", "trade_id", "order_id", "trade_time", "trade_type", "price", "size",
    "commission", "product_id", "sequence_timestamp", "liquidity_indicator", "size_in_quote",
    "user_id", "side", "cursor"}


def test_page_cursors_reach_the_first_item_through_ccxt_as_recorded(
        running: Running, keyset: KeySet) -> None:
    bot = client(running, keyset)
    since = bot.milliseconds() - 60_000
    ask = bot.fetch_ticker("BTC/USD")["ask"]
    ids = [bot.create_order("BTC/USD", "market", "buy", 0.001, ask)["id"] for _ in range(3)]
    raw = bot.v3PrivateGetBrokerageOrdersHistoricalFills({"limit": 1})
    assert raw["cursor"] == "1" and "cursor" not in raw["fills"][0]
    (first,) = bot.fetch_my_trades("BTC/USD", limit=1)
    assert set(first["info"]) == RECORDED_FILL_INFO and first["info"]["cursor"] == "1"
    (closed,) = bot.fetch_closed_orders("BTC/USD", limit=1)
    assert closed["info"]["cursor"] == "1"
    # ccxt's cursor pagination walks every page from the cursors it planted
    paged = bot.fetch_my_trades("BTC/USD", since, params={"paginate": True,
                                                         "maxEntriesPerRequest": 1})
    assert sorted(t["order"] for t in paged) == sorted(ids)
