"""Response building, faults, scenarios and the control API, without sockets."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.replay.conftest import T0, FakeClock, get
from trader247.replay.api import ReplayExchange
from trader247.replay.faults import FaultEngine, ScenarioError, parse_fault
from trader247.replay.scenario import PRODUCT_FIELDS, load_scenario

H = 3600
CANDLES = "/api/v3/brokerage/market/products/{}/candles?granularity={}&start={}&end={}"
PRODUCTS = "/api/v3/brokerage/market/products"


def candles_url(pid: str, granularity: str, start: float, end: float, **extra: Any) -> str:
    url = CANDLES.format(pid, granularity, int(start), int(end))
    return url + "".join(f"&{k}={v}" for k, v in extra.items())


def test_candles_are_strings_newest_first_capped_and_aligned(
    make_exchange: Callable[..., ReplayExchange],
) -> None:
    exchange = make_exchange()
    first = T0 - T0 % H - 300 * H
    status, body = get(exchange, candles_url("BTC-USD", "ONE_HOUR", first, T0))
    assert status == 200
    rows = body["candles"]
    assert len(rows) == 300  # 301 in range (as ccxt asks), capped, the oldest kept
    assert int(rows[-1]["start"]) == first
    assert set(rows[0]) == {"start", "low", "high", "open", "close", "volume"}
    assert all(isinstance(v, str) for row in rows for v in row.values())
    starts = [int(r["start"]) for r in rows]
    assert starts[0] == T0 - T0 % H - H and all(a - b == H for a, b in zip(starts, starts[1:],
                                                                            strict=False))
    _, body = get(exchange, candles_url("BTC-USD", "ONE_HOUR", T0 - 299 * H, T0))
    assert int(body["candles"][0]["start"]) == T0 - T0 % H  # the current, in-progress one
    for row in rows:
        low, high = float(row["low"]), float(row["high"])
        assert low <= min(float(row["open"]), float(row["close"]))
        assert high >= max(float(row["open"]), float(row["close"]))
    # start/end/limit honoured; start and end are inclusive
    old = T0 - T0 % H - 50 * H
    _, body = get(exchange, candles_url("BTC-USD", "ONE_HOUR", old, old + 9 * H, limit=4))
    assert [int(r["start"]) for r in body["candles"]] == [old + k * H for k in (3, 2, 1, 0)]
    # nothing from the future
    _, body = get(exchange, candles_url("BTC-USD", "ONE_HOUR", T0 + H, T0 + 5 * H))
    assert body["candles"] == []


def test_candles_granularities_and_bad_arguments(
    make_exchange: Callable[..., ReplayExchange],
) -> None:
    exchange = make_exchange()
    _, body = get(exchange, candles_url("ETH-USD", "TWO_HOUR", T0 - 20 * H, T0))
    assert len(body["candles"]) == 10  # aggregated from the 1h file
    _, body = get(exchange, candles_url("ETH-USD", "FIVE_MINUTE", T0 - H, T0))
    assert body["candles"] == []  # nothing finer than 1h to build 5m from
    _, body = get(exchange, candles_url("BTC-USD", "FIFTEEN_MINUTE", T0 - H, T0))
    assert len(body["candles"]) == 5  # hh-1:30 .. hh:30 (the url truncates to whole seconds)
    status, body = get(exchange, candles_url("BTC-USD", "SEVEN_MINUTE", T0 - H, T0))
    assert status == 400 and body["error"] == "INVALID_ARGUMENT"
    status, body = get(exchange, candles_url("BTC-USD", "ONE_HOUR", T0 - 400 * H, T0))
    assert status == 400 and "350" in body["message"]
    status, body = get(exchange, candles_url("NOPE-USD", "ONE_HOUR", T0 - H, T0))
    assert status == 404 and body["error"] == "NOT_FOUND"


def test_products_carry_coinbase_fields_and_trailing_24h_volumes(
    make_exchange: Callable[..., ReplayExchange], dataset: dict[str, Any],
) -> None:
    exchange = make_exchange()
    status, body = get(exchange, PRODUCTS)
    assert status == 200 and body["num_products"] == "4"
    products = {p["product_id"]: p for p in body["products"]}
    btc = products["BTC-USD"]
    assert list(btc) == list(PRODUCT_FIELDS)
    assert btc["base_currency_id"] == "BTC" and btc["quote_currency_id"] == "USD"
    assert btc["status"] == "online" and btc["trading_disabled"] is False
    assert btc["product_type"] == "SPOT" and btc["base_name"] == "Bitcoin"
    assert (btc["quote_increment"], btc["base_increment"], btc["quote_min_size"]) == (
        "0.01", "0.00000001", "1")
    # trailing 24 h of completed 15m candles (the finest file): base units and quote currency
    vt = exchange.clock.virtual(T0)
    slot = vt - vt % 900
    df = dataset["frames"][("BTC/USD", "15m")]
    window = df[(df["date"] >= pd.Timestamp(slot - 86400, unit="s", tz="UTC"))
                & (df["date"] < pd.Timestamp(slot, unit="s", tz="UTC"))]
    assert len(window) == 96
    assert float(btc["volume_24h"]) == pytest.approx(window["volume"].sum())  # 96 x 2.5
    price = exchange.market.price("BTC-USD", T0)
    assert float(btc["price"]) == pytest.approx(price, abs=0.005)
    # Coinbase's definition: volume_24h x price as printed (not a sum of candle volume x close)
    assert btc["approximate_quote_24h_volume"] == format(
        (D(btc["volume_24h"]) * D(btc["price"])).quantize(D("0.01")).normalize(), "f")
    assert float(btc["approximate_quote_24h_volume"]) != pytest.approx(
        (window["volume"] * window["close"]).sum(), abs=1.0)
    # from the price the product shows, so price and change agree for a client
    change = (float(btc["price"]) / window["open"].iloc[0] - 1) * 100
    assert float(btc["price_percentage_change_24h"]) == pytest.approx(change)
    # a BTC-quoted pair: volume in ETH, quote volume in BTC, minimum ~ 1 USD in BTC
    eth_btc = products["ETH-BTC"]
    assert float(eth_btc["volume_24h"]) == pytest.approx(24 * 50.0)
    assert float(eth_btc["approximate_quote_24h_volume"]) == pytest.approx(
        24 * 50.0 * float(eth_btc["price"]), rel=0.05)
    assert float(eth_btc["quote_min_size"]) == pytest.approx(1 / float(btc["price"]), rel=0.2)
    # filters Coinbase supports; FUTURE products are asked for by ccxt and are empty here
    _, body = get(exchange, PRODUCTS + "?product_ids=ETH-USD&product_ids=ADA-USD")
    assert sorted(p["product_id"] for p in body["products"]) == ["ADA-USD", "ETH-USD"]
    _, body = get(exchange, PRODUCTS + "?product_type=FUTURE")
    assert body == {"products": [], "num_products": "0"}
    _, single = get(exchange, PRODUCTS + "/ETH-USD")
    # numbers are strings without trailing zeros, as Coinbase prints them
    assert single["product_id"] == "ETH-USD" and single["volume_24h"] == "2400"


def test_product_overrides_hidden_and_missing_volume(
    make_exchange: Callable[..., ReplayExchange],
) -> None:
    exchange = make_exchange({
        "products": {
            "BTC-USD": {"volume_24h": "5928.37", "approximate_quote_24h_volume": 564677608},
            "ADA/USD": {"trading_disabled": True, "status": "delisted"},
            "ETH-BTC": {"hidden": True},
        },
        "faults": [{"kind": "missing_volume", "pair": "ETH/USD",
                    "fields": ["approximate_quote_24h_volume"]}],
    })
    _, body = get(exchange, PRODUCTS)
    products = {p["product_id"]: p for p in body["products"]}
    assert "ETH-BTC" not in products
    assert products["BTC-USD"]["volume_24h"] == "5928.37"
    assert products["BTC-USD"]["approximate_quote_24h_volume"] == "564677608"
    assert products["ADA-USD"]["trading_disabled"] is True
    assert products["ADA-USD"]["status"] == "delisted"
    assert "approximate_quote_24h_volume" not in products["ETH-USD"]
    assert "volume_24h" in products["ETH-USD"]
    status, _ = get(exchange, candles_url("ETH-BTC", "ONE_HOUR", T0 - H, T0))
    assert status == 404


def test_order_book_shape(make_exchange: Callable[..., ReplayExchange]) -> None:
    exchange = make_exchange({"book": {"spread_bps": 4, "depth_levels": 20,
                                       "pairs": {"ADA/USD": {"spread_bps": 40}}}})
    status, body = get(exchange, "/api/v3/brokerage/market/product_book?product_id=BTC-USD")
    assert status == 200
    book = body["pricebook"]
    bids = [float(b["price"]) for b in book["bids"]]
    asks = [float(a["price"]) for a in book["asks"]]
    assert len(bids) == len(asks) == 20
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert len(set(bids)) == 20 and bids[0] < asks[0]
    price = exchange.market.price("BTC-USD", T0)
    assert bids[0] <= price <= asks[0]
    assert (asks[0] - bids[0]) / price * 1e4 == pytest.approx(4, abs=0.01)
    assert all(round(p, 2) == p for p in bids + asks)  # on the 0.01 tick
    assert all(float(b["size"]) > 0 for b in book["bids"])
    _, body = get(exchange, "/api/v3/brokerage/market/product_book?product_id=ADA-USD&limit=3")
    ada = body["pricebook"]
    assert len(ada["bids"]) == 3
    spread = float(ada["asks"][0]["price"]) - float(ada["bids"][0]["price"])
    assert spread / exchange.market.price("ADA-USD", T0) * 1e4 == pytest.approx(40, rel=0.05)
    status, body = get(exchange, "/api/v3/brokerage/market/product_book")
    assert status == 400


def test_ticker_currencies_time_and_unknown_paths(
    make_exchange: Callable[..., ReplayExchange],
) -> None:
    exchange = make_exchange()
    _, ticker = get(exchange, PRODUCTS + "/BTC-USD/ticker?limit=3")
    assert len(ticker["trades"]) == 3
    assert float(ticker["trades"][0]["price"]) == pytest.approx(
        exchange.market.price("BTC-USD", T0), abs=0.01)
    assert float(ticker["best_bid"]) < float(ticker["best_ask"])
    _, fiat = get(exchange, "/v2/currencies")
    assert {"id": "USD", "name": "US Dollar", "min_size": "0.01"} in fiat["data"]
    _, crypto = get(exchange, "/v2/currencies/crypto")
    assert {c["code"] for c in crypto["data"]} == {"BTC", "ETH", "ADA"}
    assert all(c["asset_id"] and c["name"] for c in crypto["data"])
    _, rates = get(exchange, "/v2/exchange-rates?currency=USD")
    btc_price = exchange.market.price("BTC-USD", T0)
    assert float(rates["data"]["rates"]["BTC"]) == pytest.approx(1 / btc_price, rel=1e-6)
    _, v2_time = get(exchange, "/v2/time")
    assert v2_time["data"]["epoch"] == int(T0)
    _, v3_time = get(exchange, "/api/v3/brokerage/time")
    assert v3_time["epochMillis"] == str(int(T0 * 1000))
    status, body = get(exchange, "/api/v3/brokerage/nope")
    assert status == 404 and body["error"] == "NOT_FOUND"
    status, body = get(exchange, "/v2/nope")
    assert status == 404 and body["errors"][0]["id"] == "not_found"
    assert exchange.state()["requests"]["unknown"] == 2


def test_price_script_ramps_prices_and_candles(
    make_exchange: Callable[..., ReplayExchange], clock: FakeClock,
) -> None:
    plain = make_exchange()
    crashed = make_exchange({"price_script": [
        {"pair": "BTC/USD", "start_s": 0, "end_s": 1200, "from_multiplier": 1.0,
         "to_multiplier": 0.5}]})
    clock.advance(600)  # half-way: x0.75
    now = clock()
    assert crashed.market.price("BTC-USD", now) == pytest.approx(
        plain.market.price("BTC-USD", now) * 0.75)
    assert crashed.market.price("ETH-USD", now) == plain.market.price("ETH-USD", now)
    clock.advance(3600)  # after the ramp the crash holds
    now = clock()
    assert crashed.market.price("BTC-USD", now) == pytest.approx(
        plain.market.price("BTC-USD", now) * 0.5)
    new = crashed.market.candles("BTC-USD", H, now - 3 * H, now, now)
    old = plain.market.candles("BTC-USD", H, now - 3 * H, now, now)
    assert new[0].close == pytest.approx(old[0].close * 0.5)  # all inside the held part
    assert new[-1].open == pytest.approx(old[-1].open)  # before the script started
    _, body = get(crashed, "/api/v3/brokerage/market/product_book?product_id=BTC-USD&limit=1")
    assert float(body["pricebook"]["bids"][0]["price"]) < plain.market.price("BTC-USD", now) * 0.6


def test_stale_candles_stop_advancing(
    make_exchange: Callable[..., ReplayExchange], clock: FakeClock,
) -> None:
    exchange = make_exchange({"faults": [{"kind": "stale_candles", "pair": "BTC/USD",
                                          "start_s": 10}]})
    clock.advance(10)
    frozen = get(exchange, candles_url("BTC-USD", "ONE_HOUR", clock() - 5 * H, clock()))[1]
    clock.advance(2 * H)
    _, body = get(exchange, candles_url("BTC-USD", "ONE_HOUR", clock() - 5 * H, clock()))
    assert body["candles"][0] == frozen["candles"][0]  # newest candle did not move
    _, eth = get(exchange, candles_url("ETH-USD", "ONE_HOUR", clock() - 5 * H, clock()))
    assert int(eth["candles"][0]["start"]) == clock() - clock() % H  # other pairs advance


def test_terminal_faults_answer_like_coinbase(
    make_exchange: Callable[..., ReplayExchange],
) -> None:
    exchange = make_exchange({"faults": [
        {"kind": "rate_limit_429", "endpoint": "products", "retry_after_s": 2.5},
        {"kind": "http_5xx", "endpoint": "candles", "status": 502},
        {"kind": "http_5xx", "endpoint": "currencies", "body": "json"},
        {"kind": "timeout", "endpoint": "book", "hang_s": 7},
        {"kind": "latency", "endpoint": "book", "ms": 250},
        {"kind": "malformed_json", "endpoint": "time"},
    ]})
    response = exchange.handle("GET", PRODUCTS)
    assert response.status == 429 and response.headers["Retry-After"] == "3"
    assert json.loads(response.body)["error"] == "rate_limit_exceeded"
    response = exchange.handle("GET", candles_url("BTC-USD", "ONE_HOUR", T0 - H, T0))
    assert response.status == 502 and response.content_type == "text/html"
    response = exchange.handle("GET", "/v2/currencies")
    assert response.status == 503
    assert json.loads(response.body)["errors"][0]["id"] == "internal_server_error"
    response = exchange.handle("GET", "/api/v3/brokerage/market/product_book?product_id=BTC-USD")
    assert response.status == 200 and response.hang_s == 7 and response.delay_s == 0.25
    response = exchange.handle("GET", "/v2/time")
    assert response.status == 200 and response.body.startswith(b"{")
    with pytest.raises(ValueError):
        json.loads(response.body)
    faults = {f["kind"] + f["endpoint"]: f for f in exchange.state()["faults"]}
    assert faults["rate_limit_429products"]["hits"] == 1


def test_fault_schedule_every_n_probability_max_hits_window_and_pair() -> None:
    def fault(**raw: Any) -> FaultEngine:
        return FaultEngine([parse_fault({"kind": "http_5xx", **raw}, "t", fault_id="f1",
                                        seed=3)])

    every = fault(every_n=3)
    fired = [every.select("candles", "BTC-USD", 1.0).terminal is not None for _ in range(7)]
    assert fired == [False, False, True, False, False, True, False]
    a, b = fault(probability=0.5), fault(probability=0.5)
    seq_a = [a.select("products", None, 1.0).terminal is not None for _ in range(40)]
    seq_b = [b.select("products", None, 1.0).terminal is not None for _ in range(40)]
    assert seq_a == seq_b and 5 < sum(seq_a) < 35  # seeded: reproducible
    limited = fault(max_hits=2)
    assert [limited.select("book", "X-USD", 0).terminal is not None for _ in range(4)] == [
        True, True, False, False]
    window = fault(start_s=10, end_s=20)
    assert [window.select("time", None, t).terminal is not None for t in (5, 10, 19.9, 20)] == [
        False, True, True, False]
    scoped = fault(pair="btc/usd", endpoint="candles")
    assert scoped.select("candles", "BTC-USD", 0).terminal is not None
    assert scoped.select("candles", "ETH-USD", 0).terminal is None
    assert scoped.select("products", None, 0).terminal is None  # pair faults skip lists


def test_control_api_adds_and_clears_faults_scripts_and_overrides(
    make_exchange: Callable[..., ReplayExchange], clock: FakeClock,
) -> None:
    exchange = make_exchange()
    clock.advance(100)
    status, added = get(exchange, "/_replay/faults", "POST",
                        {"faults": [{"kind": "http_5xx", "endpoint": "time", "duration_s": 50}]})
    assert status == 200 and added["added"][0]["start_s"] == pytest.approx(100)
    assert get(exchange, "/v2/time")[0] == 503
    clock.advance(60)
    assert get(exchange, "/v2/time")[0] == 200  # window over
    get(exchange, "/_replay/faults", "POST", [{"kind": "rate_limit_429", "endpoint": "time"}])
    assert get(exchange, "/v2/time")[0] == 429
    assert get(exchange, "/_replay/faults", "DELETE")[1] == {"removed": 2}
    assert get(exchange, "/v2/time")[0] == 200
    before = exchange.market.price("ETH-USD", clock())
    status, _ = get(exchange, "/_replay/price_script", "POST",
                    {"pair": "ETH/USD", "duration_s": 1, "to_multiplier": 2.0})
    clock.advance(2)
    assert status == 200
    assert exchange.market.price("ETH-USD", clock()) == pytest.approx(before * 2, rel=0.01)
    get(exchange, "/_replay/products", "POST", {"ETH-USD": {"trading_disabled": True}})
    products = {p["product_id"]: p for p in get(exchange, PRODUCTS)[1]["products"]}
    assert products["ETH-USD"]["trading_disabled"] is True
    state = get(exchange, "/_replay/state")[1]
    assert state["requests"]["time"] == 4 and state["requests"]["products"] == 1
    assert state["pairs"] == ["ADA-USD", "BTC-USD", "ETH-BTC", "ETH-USD"]
    assert state["price_scripts"][0]["pair"] == "ETH-USD"
    status, body = get(exchange, "/_replay/faults", "POST", {"kind": "explode"})
    assert status == 400 and "faults[0].kind" in body["message"]
    status, body = get(exchange, "/_replay/products", "POST", {"BTC-USD": {"volume24": "1"}})
    assert status == 400 and "volume24" in body["message"]


@pytest.mark.parametrize(("text", "message"), [
    ("faults:\n  - {kind: http_5xx, status: 404}\n", r"faults\[0\]\.status: must be >= 500"),
    ("faults:\n  - {kind: latency, endpoint: trades}\n", r"faults\[0\]\.endpoint"),
    ("faults:\n  - {kind: timeout, hang_s: 500}\n", r"faults\[0\]\.hang_s: at most 120"),
    ("faults:\n  - {kind: latency, msec: 5}\n", r"faults\[0\]\.msec: unknown key"),
    ("price_script:\n  - {pair: BTC/USD, start_s: 5}\n", r"price_script\[0\]\.end_s"),
    ("book: {spread_bps: -1}\n", r"book\.spread_bps: must be >= 0"),
    ("products: {BTC-USD: {prize: '1'}}\n", r"products\.BTC-USD\.prize"),
    ("fault: []\n", r"unknown key 'fault'"),
    ("faults: [\n", r"not valid YAML"),
])
def test_bad_scenario_files_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message) as info:
        load_scenario(path)
    assert str(path) in str(info.value)


def test_json_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"seed": 4, "faults": [{"kind": "latency", "ms": 5}]}))
    scenario = load_scenario(path)
    assert scenario.seed == 4 and scenario.faults[0].ms == 5
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")


def test_products_statistics_are_computed_once_per_candle_slot(
    make_exchange: Callable[..., ReplayExchange], clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exchange = make_exchange()
    market = exchange.market
    calls: list[str] = []
    original = market._compute_stats

    def counting(pair: Any, series: Any, slot: int) -> Any:
        calls.append(pair.product_id)
        return original(pair, series, slot)

    monkeypatch.setattr(market, "_compute_stats", counting)
    get(exchange, PRODUCTS)
    assert sorted(calls) == ["ADA-USD", "BTC-USD", "ETH-BTC", "ETH-USD"]
    clock.advance(60)  # same 15m / 1h slots: prices move, statistics are reused
    before = get(exchange, PRODUCTS)[1]["products"]
    assert len(calls) == 4
    clock.advance(900)  # hh:46: BTC's 15m slot rolls over, the 1h pairs' slots do not
    after = get(exchange, PRODUCTS)[1]["products"]
    assert calls[4:] == ["BTC-USD"]
    assert [p["price"] for p in before] != [p["price"] for p in after]


def test_liquid_books_are_one_tick_wide_thin_ones_wider_and_usdc_is_an_alias(
        tmp_path: Path, clock: FakeClock) -> None:
    from tests.replay.conftest import candles, write
    from trader247.replay.feed import load_feed

    data = tmp_path / "liquid"
    data.mkdir()
    # BTC at ~60,000 with 500 BTC an hour: ~$720M a day, like Coinbase's BTC-USD
    write(data, "BTC/USD", "1h", candles(1500, "1h", 60_000.0, 500.0, 2))
    write(data, "BTC/USDC", "1h", candles(1500, "1h", 61_000.0, 1.0, 3))  # ignored: an alias
    write(data, "THIN/USD", "1h", candles(1500, "1h", 2.0, 20_000.0, 4))  # ~$1M a day
    exchange = ReplayExchange(load_feed(data), clock=clock)
    now = clock()
    book = exchange.public.order_book("BTC-USD", now, 1)
    assert book["spread_absolute"] == "0.01"  # BTC-USD's spread is one cent
    thin = exchange.public.order_book("THIN-USD", now, 1)
    assert 5 < float(thin["spread_bps"]) < 15  # ~10 bp at $1M a day
    usd, usdc = (exchange.catalog.product(pid, now) for pid in ("BTC-USD", "BTC-USDC"))
    assert (usd["alias"], usd["alias_to"]) == ("", ["BTC-USDC"])
    assert (usdc["alias"], usdc["alias_to"], usdc["quote_display_symbol"]) == (
        "BTC-USD", [], "USD")
    for key in ("price", "volume_24h", "approximate_quote_24h_volume"):
        assert usdc[key] == usd[key], key
    alias_book = exchange.public.order_book("BTC-USDC", now, 3)["pricebook"]
    assert alias_book["bids"] == exchange.public.order_book("BTC-USD", now, 3)["pricebook"]["bids"]
    # volume_24h x price (both printed rounded, hence the relative tolerance)
    assert float(usd["approximate_quote_24h_volume"]) == pytest.approx(
        float(usd["volume_24h"]) * float(usd["price"]), rel=1e-6)
