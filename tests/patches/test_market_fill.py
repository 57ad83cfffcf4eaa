"""``patches.market_fill``: a market order's create answer carries its fill ([G2])."""

from __future__ import annotations

import inspect
from typing import Any

import ccxt
import pytest
from freqtrade.freqtradebot import FreqtradeBot

from trader247.patches import market_fill


class FakeApi:
    def __init__(self, status: str | None = "open", fetch_error: bool = False) -> None:
        self.status = status
        self.fetch_error = fetch_error
        self.fetches: list[tuple[str, str]] = []

    def create_order(self, symbol: str, type: str, side: str, amount: float,  # noqa: A002
                     price: float | None = None, params: dict[str, Any] | None = None) -> Any:
        return {"id": "o1", "status": self.status, "type": type, "filled": None}

    def fetch_order(self, order_id: str, symbol: str) -> Any:
        self.fetches.append((order_id, symbol))
        if self.fetch_error:
            raise ccxt.ExchangeNotAvailable("503")
        return {"id": order_id, "status": "closed", "filled": 1.0}


def test_a_market_order_is_fetched_once_and_returned_with_its_fill() -> None:
    api = FakeApi()
    market_fill.guard(api)
    market_fill.guard(api)  # idempotent: still one wrapper
    order = api.create_order("BTC/USD", "market", "sell", 1.0)
    assert order == {"id": "o1", "status": "closed", "filled": 1.0}
    assert api.fetches == [("o1", "BTC/USD")]


@pytest.mark.parametrize(("kind", "status"), [("limit", "open"), ("market", "closed"),
                                              ("market", "canceled")])
def test_limit_orders_and_final_answers_are_not_fetched(kind: str, status: str) -> None:
    api = FakeApi(status)
    market_fill.guard(api)
    assert api.create_order("BTC/USD", kind, "buy", 1.0)["status"] == status
    assert api.fetches == []


def test_a_failed_fetch_returns_the_create_answer() -> None:
    api = FakeApi(fetch_error=True)
    market_fill.guard(api)
    assert api.create_order("BTC/USD", "market", "sell", 1.0)["status"] == "open"


def test_install_is_live_only_and_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    class Exchange:
        def __init__(self, dry_run: bool) -> None:
            self._config = {"dry_run": dry_run}
            self._api = FakeApi()

    assert not market_fill.install(Exchange(dry_run=True))
    monkeypatch.setenv(market_fill.DISABLE_ENV, "0")
    assert not market_fill.install(Exchange(dry_run=False))
    monkeypatch.delenv(market_fill.DISABLE_ENV)
    live = Exchange(dry_run=False)
    assert market_fill.install(live) and not market_fill.install(live)


def test_freqtrade_processes_a_closed_create_answer_inline() -> None:
    """Pin: what the patch relies on in freqtrade (the answer's status decides inline handling)."""
    exit_source = inspect.getsource(FreqtradeBot.execute_trade_exit)
    assert 'order.get("status", "unknown") in ("closed", "expired")' in exit_source
    assert "self.update_trade_state(trade, order_obj.order_id, order)" in exit_source
    entry_source = inspect.getsource(FreqtradeBot.execute_entry)
    assert "NON_OPEN_EXCHANGE_STATES" in entry_source
