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


class RecordingApi:
    """A ccxt instance recording the create's arguments; ``answer`` and ``fetched`` scripted."""

    def __init__(self, answer: Any, fetched: Any = None,
                 fetch_error: BaseException | None = None) -> None:
        self.answer, self.fetched, self.fetch_error = answer, fetched, fetch_error
        self.creates: list[tuple[Any, ...]] = []
        self.fetches: list[tuple[str, str]] = []

    def create_order(self, symbol: str, type: str, side: str, amount: float,  # noqa: A002
                     price: float | None = None, params: dict[str, Any] | None = None) -> Any:
        self.creates.append((symbol, type, side, amount, price, params))
        return self.answer

    def fetch_order(self, order_id: str, symbol: str) -> Any:
        self.fetches.append((order_id, symbol))
        if self.fetch_error is not None:
            raise self.fetch_error
        return self.fetched


def test_every_argument_reaches_the_create_unchanged() -> None:
    api = RecordingApi({"id": "o1", "status": "closed"})
    market_fill.guard(api)
    params = {"client_order_id": "t247-1"}
    api.create_order("ETH/USD", "market", "sell", 0.25, 2000.5, params)
    api.create_order("BTC/USD", "limit", "buy", 1.5)
    assert api.creates == [("ETH/USD", "market", "sell", 0.25, 2000.5, params),
                           ("BTC/USD", "limit", "buy", 1.5, None, None)]
    assert api.creates[0][5] is params


@pytest.mark.parametrize("status", sorted(market_fill.FINAL))
def test_a_final_market_answer_is_not_fetched(status: str) -> None:
    api = RecordingApi({"id": "o1", "status": status})
    market_fill.guard(api)
    assert api.create_order("BTC/USD", "market", "sell", 1.0) == {"id": "o1", "status": status}
    assert api.fetches == []


@pytest.mark.parametrize("answer", [None, "o1", {"status": "open"}, {"id": "", "status": "open"},
                                    {"id": None}])
def test_an_answer_without_an_order_id_is_returned_as_it_is(answer: Any) -> None:
    api = RecordingApi(answer, fetched={"id": "o1", "status": "closed"})
    market_fill.guard(api)
    assert api.create_order("BTC/USD", "market", "buy", 1.0) == answer
    assert api.fetches == []


@pytest.mark.parametrize(("status", "fetched", "returned"), [
    ("open", {"id": "o1", "status": "closed", "filled": 1.0}, "fetched"),
    (None, {"id": "o1", "status": "closed", "filled": 1.0}, "fetched"),  # no status at all
    ("open", {"id": "o2", "status": "closed"}, "created"),  # another order: not this one's fill
    ("open", {"status": "closed"}, "created"),
    ("open", None, "created"),
    ("open", ["o1"], "created"),
])
def test_the_fetched_order_replaces_the_answer_only_when_it_is_this_order(
        status: str | None, fetched: Any, returned: str) -> None:
    created = {"id": "o1", "status": status}
    api = RecordingApi(dict(created), fetched=fetched)
    market_fill.guard(api)
    assert api.create_order("SOL/USD", "market", "buy", 3.0) == (
        fetched if returned == "fetched" else created)
    assert api.fetches == [("o1", "SOL/USD")]


@pytest.mark.parametrize("error", [ccxt.ExchangeNotAvailable("502"), ccxt.OrderNotFound("o1"),
                                   ccxt.ExchangeError("INTERNAL")])
def test_a_failed_fetch_is_logged_and_freqtrade_polls(
        error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.INFO, "trader247.patches.market_fill")
    api = RecordingApi({"id": "o1", "status": "open"}, fetch_error=error)
    market_fill.guard(api)
    assert api.create_order("BTC/USD", "market", "sell", 1.0) == {"id": "o1", "status": "open"}
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", f"market order o1 on BTC/USD: fill not fetched ({type(error).__name__}), "
                 "freqtrade polls it")]


def test_an_interrupt_hidden_in_the_fetch_error_propagates() -> None:
    stop = KeyboardInterrupt()
    error = ccxt.NetworkError("connection aborted")
    error.__context__ = stop
    api = RecordingApi({"id": "o1", "status": "open"}, fetch_error=error)
    market_fill.guard(api)
    with pytest.raises(KeyboardInterrupt) as raised:
        api.create_order("BTC/USD", "market", "sell", 1.0)
    assert raised.value is stop


def test_a_fetch_during_shutdown_is_an_ordinary_failure() -> None:
    """The interrupt already being handled (freqtrade's shutdown): not raised again."""
    api = RecordingApi({"id": "o1", "status": "open"}, fetch_error=None)
    market_fill.guard(api)

    def failing(order_id: str, symbol: str) -> Any:
        raise ccxt.NetworkError("connection aborted")  # its context: the interrupt handled

    api.fetch_order = failing  # type: ignore[method-assign]
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        try:
            answer = api.create_order("BTC/USD", "market", "sell", 1.0)
        except KeyboardInterrupt:  # a test failure, not an interrupted test session
            pytest.fail("the interrupt being handled was raised again from the fetch's error")
    assert answer["status"] == "open"


def test_guarding_twice_fetches_once() -> None:
    api = RecordingApi({"id": "o1", "status": "open"}, fetched={"id": "o1", "status": "open"})
    market_fill.guard(api)
    market_fill.guard(api)
    api.create_order("BTC/USD", "market", "sell", 1.0)
    assert api.fetches == [("o1", "BTC/USD")]


def test_install_tells_the_operator(monkeypatch: pytest.MonkeyPatch,
                                    caplog: pytest.LogCaptureFixture) -> None:
    import logging

    class Exchange:
        _config = {"dry_run": False}
        _api = RecordingApi({"id": "o1", "status": "closed"})

    monkeypatch.delenv(market_fill.DISABLE_ENV, raising=False)
    caplog.set_level(logging.INFO, "trader247.patches.market_fill")
    assert market_fill.install(Exchange())
    assert [r.getMessage() for r in caplog.records] == [
        "trader247 patch market_fill installed: a market order's create answer carries its fill "
        "(one fetch), so freqtrade records it in the same iteration"]
