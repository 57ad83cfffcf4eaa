"""The real ccxt coinbase class (sync and async) against an in-process replay server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from tests.replay.conftest import Running

H_MS = 3_600_000


def client(url: str, timeout_ms: int = 1000) -> ccxt.coinbase:
    return ccxt.coinbase({"enableRateLimit": False, "timeout": timeout_ms,
                          "urls": {"api": {"rest": url}}, "has": {"fetchL2OrderBook": True}})


@pytest.fixture
def running(serve: Callable[..., Running]) -> Running:
    return serve({"products": {"ETH-BTC": {"trading_disabled": True, "status": "delisted"}}})


@pytest.fixture
def cb(running: Running) -> Iterator[ccxt.coinbase]:
    exchange = client(running.url)
    exchange.load_markets()
    yield exchange


def test_load_markets_with_active_flags_precision_and_limits(cb: ccxt.coinbase) -> None:
    markets = cb.markets
    assert set(markets) == {"BTC/USD", "ETH/USD", "ADA/USD", "ETH/BTC"}
    btc = markets["BTC/USD"]
    assert btc["id"] == "BTC-USD" and btc["spot"] and btc["active"] is True
    assert btc["precision"] == {"amount": 1e-08, "price": 0.01}
    assert btc["limits"]["cost"]["min"] == 1.0 and btc["limits"]["amount"]["min"] == 1e-08
    assert markets["ETH/BTC"]["active"] is False  # trading_disabled is what ccxt reads
    assert {"BTC", "ETH", "ADA", "USD"} <= set(cb.currencies)


def test_fetch_tickers_volumes_and_info(cb: ccxt.coinbase, running: Running) -> None:
    tickers = cb.fetch_tickers()
    btc = tickers["BTC/USD"]
    info = btc["info"]
    assert btc["baseVolume"] == pytest.approx(float(info["volume_24h"]))
    assert btc["quoteVolume"] == pytest.approx(float(info["approximate_quote_24h_volume"]))
    # base units x price ~ quote currency (the synthetic BTC trades 2.5 per 15m)
    assert btc["baseVolume"] == pytest.approx(240.0)
    assert btc["quoteVolume"] == pytest.approx(btc["baseVolume"] * btc["last"], rel=0.1)
    assert btc["percentage"] is not None
    some = cb.fetch_tickers(["ETH/USD", "ADA/USD"])
    assert set(some) == {"ETH/USD", "ADA/USD"}


def test_fetch_ohlcv_counts_order_and_real_clock_alignment(cb: ccxt.coinbase) -> None:
    before = time.time() * 1000
    candles = cb.fetch_ohlcv("BTC/USD", "1h")
    now_ms = time.time() * 1000
    assert len(candles) == 300
    stamps = [c[0] for c in candles]
    assert stamps == sorted(stamps) and all(b - a == H_MS for a, b in zip(stamps, stamps[1:],
                                                                           strict=False))
    # the current real hour, in progress
    assert stamps[-1] in (before - before % H_MS, now_ms - now_ms % H_MS)
    assert all(c[3] <= min(c[1], c[4]) and c[2] >= max(c[1], c[4]) for c in candles)
    since = stamps[100]
    page = cb.fetch_ohlcv("BTC/USD", "1h", since=since, limit=20)
    assert [c[0] for c in page] == stamps[100:120]
    assert [c[1:5] for c in page] == [c[1:5] for c in candles[100:120]]
    assert len(cb.fetch_ohlcv("BTC/USD", "15m", limit=10)) == 10
    assert cb.fetch_ohlcv("ETH/USD", "5m") == []  # no file fine enough to build 5m from


def test_order_book_ticker_and_time(cb: ccxt.coinbase) -> None:
    book = cb.fetch_order_book("BTC/USD", 5)
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert book["bids"][0][0] < book["asks"][0][0]
    l2 = cb.fetch_l2_order_book("ETH/USD", 3)
    assert len(l2["bids"]) == 3
    ticker = cb.fetch_ticker("BTC/USD")
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    assert abs(cb.fetch_time() - time.time() * 1000) < 2000


def test_async_client_loads_markets_and_candles(running: Running) -> None:
    async def scenario() -> tuple[dict[str, Any], list[list[float]], dict[str, Any], Any]:
        exchange = ccxt_async.coinbase({"enableRateLimit": False, "timeout": 1000,
                                        "urls": {"api": {"rest": running.url}}})
        try:
            markets = await exchange.load_markets()
            candles, tickers = await asyncio.gather(
                exchange.fetch_ohlcv("ETH/USD", "1h", limit=50), exchange.fetch_tickers())
            running.call("/_replay/faults", "POST", {"kind": "rate_limit_429",
                                                      "endpoint": "candles", "max_hits": 1})
            try:
                await exchange.fetch_ohlcv("ETH/USD", "1h", limit=5)
                error: Any = None
            except ccxt.BaseError as exc:
                error = exc
            return markets, candles, tickers, error
        finally:
            await exchange.close()

    markets, candles, tickers, error = asyncio.run(scenario())
    assert "ETH/USD" in markets
    assert len(candles) == 50 and time.time() * 1000 - candles[-1][0] < H_MS + 5000
    assert tickers["ETH/USD"]["quoteVolume"] > 0
    assert isinstance(error, ccxt.RateLimitExceeded)


FAULT_CASES = [
    ({"kind": "http_5xx", "status": 503}, ccxt.ExchangeNotAvailable),
    ({"kind": "http_5xx", "status": 500}, ccxt.ExchangeNotAvailable),
    ({"kind": "http_5xx", "status": 504}, ccxt.RequestTimeout),
    ({"kind": "http_5xx", "status": 500, "body": "json"}, ccxt.ExchangeError),
    ({"kind": "rate_limit_429"}, ccxt.RateLimitExceeded),
    ({"kind": "timeout", "hang_s": 3}, ccxt.RequestTimeout),
]


@pytest.mark.parametrize(("fault", "error"), FAULT_CASES,
                         ids=[f"{f['kind']}-{f.get('status', '')}{f.get('body', '')}"
                              for f, _ in FAULT_CASES])
def test_faults_surface_as_ccxt_exceptions(cb: ccxt.coinbase, running: Running,
                                           fault: dict[str, Any], error: type) -> None:
    running.call("/_replay/faults", "POST", {**fault, "endpoint": "candles", "pair": "BTC/USD"})
    started = time.monotonic()
    with pytest.raises(error):
        cb.fetch_ohlcv("BTC/USD", "1h", limit=5)
    assert time.monotonic() - started < 2.5  # the hang is cut by ccxt's 1 s timeout
    assert len(cb.fetch_ohlcv("ETH/USD", "1h", limit=5)) == 5  # other pairs unaffected
    running.call("/_replay/faults", "DELETE")
    assert len(cb.fetch_ohlcv("BTC/USD", "1h", limit=5)) == 5


def test_async_client_sees_5xx_and_timeouts(running: Running) -> None:
    running.call("/_replay/faults", "POST", [
        {"kind": "http_5xx", "endpoint": "book", "status": 502},
        {"kind": "timeout", "endpoint": "candles", "hang_s": 3},
    ])

    async def scenario() -> list[type]:
        exchange = ccxt_async.coinbase({"enableRateLimit": False, "timeout": 800,
                                        "urls": {"api": {"rest": running.url}}})
        errors: list[type] = []
        try:
            await exchange.load_markets()
            for call in (exchange.fetch_order_book("BTC/USD"),
                         exchange.fetch_ohlcv("BTC/USD", "1h", limit=3)):
                try:
                    await call
                except ccxt.BaseError as exc:
                    errors.append(type(exc))
        finally:
            await exchange.close()
        return errors

    assert asyncio.run(scenario()) == [ccxt.ExchangeNotAvailable, ccxt.RequestTimeout]


def test_content_faults_as_ccxt_sees_them(cb: ccxt.coinbase, running: Running) -> None:
    running.call("/_replay/faults", "POST", {"kind": "missing_volume", "endpoint": "products"})
    ticker = cb.fetch_tickers()["BTC/USD"]
    assert ticker["baseVolume"] is None and ticker["quoteVolume"] is None
    running.call("/_replay/faults", "DELETE")
    running.call("/_replay/faults", "POST", {"kind": "latency", "endpoint": "ticker", "ms": 300})
    started = time.monotonic()
    cb.fetch_ticker("ETH/USD")
    assert time.monotonic() - started >= 0.3
    running.call("/_replay/faults", "DELETE")
    # ccxt's coinbase class swallows a truncated body: empty results, no exception
    running.call("/_replay/faults", "POST", {"kind": "malformed_json", "endpoint": "candles"})
    assert cb.fetch_ohlcv("BTC/USD", "1h", limit=5) == []
    running.call("/_replay/faults", "POST", {"kind": "malformed_json", "endpoint": "products"})
    assert cb.fetch_tickers() == {}
    state = running.call("/_replay/state")
    assert state["requests"]["candles"] == 1 and state["requests"]["products"] >= 3


def test_hung_requests_do_not_block_shutdown(serve: Callable[..., Running]) -> None:
    import socket
    import urllib.error
    from urllib.request import urlopen

    from trader247.replay.server import ReplayServer

    running = serve({"faults": [{"kind": "timeout", "endpoint": "time", "hang_s": 60}]})
    server = ReplayServer(running.exchange, "127.0.0.1", 0).start()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        urlopen(server.url + "/v2/time", timeout=0.3)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3
