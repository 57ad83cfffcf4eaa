"""Values (not only shapes) as Coinbase sends them; each test's truth is a recorded answer.

Sources, as in ``fixtures/coinbase_recorded_shapes.json``:
- M: ccxt/ccxt ts/src/test/static/markets/coinbase.json @ 1ddbcbfd (``info`` of the spot
  markets BTC/USDC, BTC/USDT, ETH/USDT, ADA/USDT, XRP/USDT, DOGE/USDT)
- D: ccxt 4.5.90 python/ccxt/coinbase.py, the answers quoted in its comments (the method named)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from tests.replay.conftest import FakeClock, KeySet, candles, get, sign, write
from trader247.replay.api import ReplayExchange
from trader247.replay.catalog import pct_text, quote_volume_text
from trader247.replay.feed import load_feed
from trader247.replay.private import average_price
from trader247.replay.protocol import dec
from trader247.replay.public import rate_text

V3 = "/api/v3/brokerage"
# a Coinbase figure: plain notation, no exponent, no trailing zero after the point
PLAIN = re.compile(r"^-?\d+(\.\d*[1-9])?$")


# -- approximate_quote_24h_volume = volume_24h x price, both as printed ----------------------
# M: (volume_24h, price, quote_increment, approximate_quote_24h_volume) of each spot market
RECORDED_VOLUMES = [
    ("BTC-USDC", "9035.28731773", "103459.11", "0.01", "934782784.49"),
    ("BTC-USDT", "147.77271455", "103400.79", "0.01", "15279815.42"),
    ("ETH-USDT", "10623.18175615", "2584.11", "0.01", "27451470.21"),
    ("ADA-USDT", "3156487.39", "0.8027", "0.0001", "2533712.428"),
    ("XRP-USDT", "2443403.003755", "2.5631", "0.0001", "6262686.2389"),
    ("DOGE-USDT", "12098381.5", "0.2322", "0.0001", "2809244.1843"),
]


@pytest.mark.parametrize("product, volume, price, increment, recorded", RECORDED_VOLUMES)
def test_quote_volume_is_the_product_of_the_printed_figures(
        product: str, volume: str, price: str, increment: str, recorded: str) -> None:
    assert quote_volume_text(volume, price, -D(increment).as_tuple().exponent) == recorded


def test_every_product_obeys_the_recorded_quote_volume_rule(
        make_exchange: Callable[..., ReplayExchange], clock: FakeClock) -> None:
    exchange = make_exchange()
    checked = 0
    for _ in range(12):  # prices move between calls: the rule holds at every one
        for product in get(exchange, f"{V3}/market/products")[1]["products"]:
            decimals = -D(product["quote_increment"]).as_tuple().exponent
            exact = D(product["volume_24h"]) * D(product["price"])
            assert product["approximate_quote_24h_volume"] == format(
                exact.quantize(D(1).scaleb(-decimals)).normalize(), "f"), product["product_id"]
            checked += 1
        clock.advance(97)
    assert checked == 48


# -- the 24 h changes: 14 decimals, trailing zeros dropped -----------------------------------
# M: price_percentage_change_24h and volume_percentage_change_24h of the six spot markets
RECORDED_CHANGES = [
    "-0.31484054621308", "7.92405208061416", "-0.30212852365164", "-1.23256174164633",
    "0.9966348916013", "30.15516305669346", "-0.17410769804751", "70.83044830862135",
    "0.71515580179968", "-30.48287160062053", "1.00043497172684", "-14.50836418616317",
]


# "70.83044830862135" has 16 significant digits, more than a float holds exactly: left out
FLOATS = [r for r in RECORDED_CHANGES if repr(float(r)) == r]


def test_the_changes_compared_are_most_of_the_recorded_ones() -> None:
    assert len(FLOATS) == len(RECORDED_CHANGES) - 1


@pytest.mark.parametrize("recorded", FLOATS)
def test_changes_print_like_coinbase(recorded: str) -> None:
    assert pct_text(float(recorded)) == recorded


# -- size limits: Coinbase's where recorded ---------------------------------------------------
def _liquid(tmp_path: Path, clock: FakeClock) -> ReplayExchange:
    data = tmp_path / "data"
    data.mkdir()
    write(data, "BTC/USD", "1h", candles(1500, "1h", 60_000.0, 500.0, 2))
    write(data, "BTC/USDC", "1h", candles(1500, "1h", 60_000.0, 1.0, 3))  # an alias
    write(data, "ETH/USD", "1h", candles(1500, "1h", 3_000.0, 100.0, 3))
    write(data, "ADA/USD", "1h", candles(1500, "1h", 0.5, 100_000.0, 4))
    return ReplayExchange(load_feed(data), clock=clock)


def test_size_limits_are_coinbases_where_recorded(tmp_path: Path, clock: FakeClock) -> None:
    exchange = _liquid(tmp_path, clock)
    products = {p["product_id"]: p for p in get(exchange, f"{V3}/market/products")[1]["products"]}
    limits = {pid: (p["base_max_size"], p["quote_max_size"]) for pid, p in products.items()}
    # D (fetch_markets_v3): BTC-USD base_max_size '3400', quote_max_size '150000000';
    # M: BTC/USDC (its alias) the same; D (parse_ticker, fetchTickersV3): ETH-USD '42000'
    assert limits["BTC-USD"] == limits["BTC-USDC"] == ("3400", "150000000")
    assert limits["ETH-USD"] == ("42000", "150000000")
    # no recording of ADA-USD: what 150M USD buys at the first price, not a round invention
    ada = float(limits["ADA-USD"][0]) * float(products["ADA-USD"]["price"])
    assert limits["ADA-USD"][1] == "150000000" and ada == pytest.approx(150e6, rel=0.2)
    # the matching engine enforces the same limit
    spec = exchange.catalog.spec("BTC-USD", clock())
    assert spec is not None and spec.base_max_size == D("3400")


# -- numbers in books and trades: plain, no trailing zeros ------------------------------------
def test_books_and_trades_print_plain_figures(
        make_exchange: Callable[..., ReplayExchange]) -> None:
    exchange = make_exchange()
    # D (fetch_order_book): sizes "0.115", "0.04877659"; D (fetch_bids_asks): "386.1", "672";
    # D (parse_ticker, fetchTickerV3): a trade of size "0.1" on BTC-USDT (increment 1e-8)
    for pid in ("BTC-USD", "ETH-USD", "ADA-USD", "ETH-BTC"):
        book = get(exchange, f"{V3}/market/product_book?product_id={pid}&limit=20")[1]
        rows = book["pricebook"]["bids"] + book["pricebook"]["asks"]
        figures = [r[k] for r in rows for k in ("price", "size")] + [book["last"]]
        ticker = get(exchange, f"{V3}/market/products/{pid}/ticker?limit=20")[1]
        figures += [t[k] for t in ticker["trades"] for k in ("price", "size")]
        figures += [ticker["best_bid"], ticker["best_ask"]]
        assert [f for f in figures if not PLAIN.match(f)] == [], pid
        assert all(D(t["size"]) > 0 for t in ticker["trades"])


# -- exchange rates: plain decimals -----------------------------------------------------------
def test_exchange_rates_are_plain_decimals(
        make_exchange: Callable[..., ReplayExchange], clock: FakeClock) -> None:
    exchange = make_exchange()
    # D (fetch_tickers_v2): {"currency": "USD", "rates": {"AED": "3.6731", "AFN": "103.163942"}}
    assert rate_text(3.6731) == "3.6731" and rate_text(103.163942) == "103.163942"
    assert rate_text(1 / 105_370.0) == "0.000009490367277"  # not "9.490367277e-06"
    for currency in ("USD", "BTC", "ADA"):
        data = get(exchange, f"/v2/exchange-rates?currency={currency}")[1]["data"]
        assert data["currency"] == currency
        assert [r for r in data["rates"].values() if not PLAIN.match(r)] == []
    usd = get(exchange, "/v2/exchange-rates")[1]["data"]["rates"]
    btc = exchange.market.price("BTC-USD", clock()) or 0.0
    assert float(usd["BTC"]) == pytest.approx(1 / btc, rel=1e-9) and usd["USD"] == "1"


# -- server time ------------------------------------------------------------------------------
def test_v3_time_is_whole_seconds(make_exchange: Callable[..., ReplayExchange]) -> None:
    # D (fetch_time): {"iso": "2024-02-27T03:37:14Z", "epochSeconds": "1709005034",
    #                  "epochMillis": "1709005034333"}
    answer = get(make_exchange(), f"{V3}/time")[1]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", answer["iso"]), answer
    assert answer["epochMillis"][:10] == answer["epochSeconds"]


# -- wallets: fixed decimals ------------------------------------------------------------------
def test_wallet_figures_have_coinbases_decimals(
        make_exchange: Callable[..., ReplayExchange], keyset: KeySet) -> None:
    exchange = make_exchange(keys=keyset.ring)
    now = exchange.clock.now()

    def private(path: str) -> Any:
        status, data = get(exchange, path, "GET", None,
                           sign(keyset, "acct-1", "GET", path.split("?")[0], now))
        assert status == 200, data
        return data

    # D (fetch_accounts_v3): "available_balance": {"value": "0.0000000000000000", ...}
    v3 = {a["currency"]: a for a in private(f"{V3}/accounts?limit=250")["accounts"]}
    assert v3["USD"]["available_balance"]["value"] == "10000.0000000000000000"
    assert v3["BTC"]["available_balance"]["value"] == "0.0000000000000000"
    assert v3["BTC"]["hold"]["value"] == "0.0000000000000000"
    # R (fetchBalance, "v2 balance"): "0.00000000" (MASK, exponent "8"), "5.047160" (ADA, "6")
    v2 = {a["currency"]["code"]: a for a in private("/v2/accounts?limit=250")["data"]}
    for code, amount in (("USD", "10000.00"), ("BTC", "0.00000000")):
        wallet = v2[code]
        assert wallet["balance"]["amount"] == amount
        assert len(amount.partition(".")[2]) == int(wallet["currency"]["exponent"])


def test_average_filled_price_has_coinbases_16_decimals() -> None:
    # D (fetch_orders): a quote-sized market buy filled at 21220.64, "filled_value":
    # "6.3220675944333996", "filled_size": "0.000297920684505",
    # "average_filled_price": "21220.6399999973697697"
    average = average_price(D("6.3220675944333996"), D("0.000297920684505"))
    assert dec(average) == "21220.6399999973697697"
    assert average_price(D("3.92"), D("10")) == D("0.392")  # R (fetchClosedOrders): "0.392"
    assert average_price(D(0), D(0)) == 0
