"""Markets guard ([R] 4): a reload that parses to no markets keeps the loaded ones.

Driven through freqtrade's own ``Exchange.reload_markets`` on a real ``Exchange`` object with
real ccxt ``coinbase`` instances; only ccxt's network call (``load_markets`` of the async
instance) is replaced, by one that ends like ccxt does on a truncated products answer: ``{}``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest
from freqtrade.enums import TradingMode
from freqtrade.exchange.exchange import Exchange

from trader247.patches import markets_guard

MARKETS = [{"id": f"{base}-USD", "symbol": f"{base}/USD", "base": base, "quote": "USD",
            "baseId": base, "quoteId": "USD", "type": "spot", "spot": True, "active": True,
            "precision": {"amount": 1e-8, "price": 0.01}, "limits": {}}
           for base in ("BTC", "ETH", "SOL")]


@pytest.fixture
def exchange() -> Iterator[Any]:
    """freqtrade's Exchange with its markets loaded, built without network (no ``__init__``)."""
    sync_api, async_api = ccxt.coinbase(), ccxt_async.coinbase()
    sync_api.set_markets(MARKETS)
    async_api.set_markets(MARKETS)
    ex: Any = Exchange.__new__(Exchange)
    loop = asyncio.new_event_loop()
    ex.__dict__.update(
        _api=sync_api, _api_async=async_api, _ws_async=None, _exchange_ws=None,
        _loop_lock=threading.Lock(), loop=loop, _markets=dict(sync_api.markets),
        _last_markets_refresh=1, markets_refresh_interval=0, trading_mode=TradingMode.SPOT,
        _ft_has={"needs_trading_fees": False})
    answer: list[list[dict[str, Any]]] = [MARKETS]

    async def load_markets(reload: bool = False, params: Any = None) -> Any:
        async_api.set_markets(answer[0])  # what ccxt does with the parsed answer
        return async_api.markets

    async_api.load_markets = load_markets
    ex.answer = answer
    yield ex
    loop.close()


def reload(ex: Any, answer: list[dict[str, Any]]) -> None:
    """A scheduled reload (the refresh interval is 0), as the bot loop makes every iteration."""
    ex.answer[0] = answer
    try:
        ex.reload_markets()
    except AttributeError as exc:  # pragma: no cover - only on a changed freqtrade
        pytest.fail(f"freqtrade's Exchange.reload_markets needs an attribute this test does "
                    f"not set ({exc}): re-check what markets_guard relies on")


def test_without_the_guard_an_empty_reload_empties_freqtrades_markets(exchange: Any) -> None:
    """The defect the guard exists for (so the next test can fail)."""
    reload(exchange, [])
    assert exchange._markets == {}


def test_an_empty_reload_keeps_the_markets_and_is_logged(
    exchange: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert markets_guard.install(exchange) is True
    with caplog.at_level(logging.WARNING):
        reload(exchange, [])
    assert sorted(exchange._markets) == ["BTC/USD", "ETH/USD", "SOL/USD"]
    assert sorted(exchange._api_async.markets) == ["BTC/USD", "ETH/USD", "SOL/USD"]
    assert "Could not load markets." in caplog.text
    assert "no markets: keeping the 3 loaded ones" in caplog.text

    reload(exchange, MARKETS[:2])  # a reload with markets still replaces them
    assert sorted(exchange._markets) == ["BTC/USD", "ETH/USD"]


def test_the_first_load_is_not_guarded(exchange: Any) -> None:
    markets_guard.install(exchange)
    exchange._markets = {}  # nothing loaded yet: an empty answer is not "losing" markets
    reload(exchange, [])
    assert exchange._markets == {}


def test_only_this_exchange_object_is_wrapped_once(exchange: Any) -> None:
    assert markets_guard.install(exchange) is True
    first = exchange._load_async_markets
    assert markets_guard.install(exchange) is False
    assert exchange._load_async_markets is first
    assert getattr(Exchange._load_async_markets, "__trader247_patch__", None) is None


def test_a_changed_reload_leaves_the_exchange_alone_with_one_error(
    exchange: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Changed(Exchange):
        def reload_markets(self, force: bool = False, *, load_leverage_tiers: bool = True) -> None:
            self._markets = self._fetch_markets_some_new_way()  # type: ignore[attr-defined]

    exchange.__class__ = Changed
    with caplog.at_level(logging.ERROR):
        assert markets_guard.install(exchange) is False
    assert "_load_async_markets" not in exchange.__dict__
    assert len(caplog.records) == 1
    assert "freqtrade.exchange.exchange.Exchange.reload_markets no longer contains " \
           "`self._markets = self._api_async.markets`" in caplog.text
