"""``adapters.cap_marks``: the price a position is valued at, in order of preference (the
exchange tape, a ticker, the newest analyzed close, the open rate), what is reported as a
fallback, and the backtest source's answers without a loop time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from trader247.adapters import price_tape
from trader247.adapters.backtest_marks import BacktestMarks
from trader247.adapters.cap_marks import BacktestMarkSource, LiveMarks
from trader247.adapters.price_tape import PriceTape

from .test_interrupts import outcome

NOW = datetime(2025, 6, 1, tzinfo=UTC)
ANALYZED = pd.DataFrame({"date": pd.date_range(end=NOW, periods=3, freq="1h"),
                         "close": [99.0, 100.0, 101.5]})


class Ticker:
    """freqtrade's ``dp.ticker``: answers ``reply`` per pair, counts the requests."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.asked: list[str] = []

    def __call__(self, pair: str) -> Any:
        self.asked.append(pair)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def live(ticker: Ticker, tape: PriceTape | None = None,
         frames: dict[str, pd.DataFrame] | None = None) -> LiveMarks:
    analyzed = frames if frames is not None else {"BTC/USD": ANALYZED}
    return LiveMarks(ticker=ticker, analyzed=lambda pair: (analyzed[pair], NOW), tape=tape)


@pytest.mark.parametrize("reply", [
    None, {}, {"last": None}, {"last": 0}, {"last": 0.0}, RuntimeError("exchange down")])
def test_a_ticker_without_a_price_marks_at_the_newest_analyzed_close(reply: Any) -> None:
    marks = live(Ticker(reply))
    marks.begin_iteration()
    assert marks.price("BTC/USD", 90.0, NOW) == 101.5
    assert marks.fallbacks() == {"BTC/USD": ("candle_close", 101.5)}


def ticker_fails(interrupted: bool) -> Any:
    """``dp.ticker`` failing as a dropped connection does, with a SIGTERM inside the request
    (``interrupted``: freqtrade's handler raised ``KeyboardInterrupt`` there) or without."""

    def ticker(pair: str) -> Any:
        if interrupted:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                raise ConnectionError("connection reset")  # noqa: B904 - the chain is the point
        raise ConnectionError("connection reset")

    return ticker


@pytest.mark.parametrize(("interrupted", "shutting_down", "expected"), [
    (True, False, KeyboardInterrupt),  # the SIGTERM stops the bot, not a candle-close mark
    (False, False, None),              # a failed request: the newest analyzed close
    (True, True, KeyboardInterrupt),   # a second SIGTERM inside the request
    (False, True, None),               # the interrupt already on its way out is not raised again
])
def test_an_interrupt_hidden_in_a_failed_ticker_propagates(
        interrupted: bool, shutting_down: bool, expected: type | None) -> None:
    marks = live(ticker_fails(interrupted))
    marks.begin_iteration()
    assert outcome(lambda: marks.price("BTC/USD", 90.0, NOW),
                   shutting_down=shutting_down) is expected
    if expected is None:
        assert marks.fallbacks() == {"BTC/USD": ("candle_close", 101.5)}


def test_no_candle_either_marks_at_the_open_rate() -> None:
    marks = live(Ticker(None), frames={"NEW/USD": pd.DataFrame()})
    marks.begin_iteration()
    assert marks.price("NEW/USD", 2.5, NOW) == 2.5
    assert marks.fallbacks() == {"NEW/USD": ("open_rate", 2.5)}


def test_one_ticker_request_per_pair_per_iteration() -> None:
    ticker = Ticker({"last": 105.0})
    marks = live(ticker)
    marks.begin_iteration()
    assert [marks.price(p, 1.0, NOW) for p in ("BTC/USD", "BTC/USD", "ETH/USD")] == [105.0] * 3
    assert ticker.asked == ["BTC/USD", "ETH/USD"] and marks.fallbacks() == {}
    ticker.reply = {"last": 106.0}
    marks.begin_iteration()
    assert marks.price("BTC/USD", 1.0, NOW) == 106.0
    assert ticker.asked == ["BTC/USD", "ETH/USD", "BTC/USD"]


def test_the_tape_serves_prices_seen_since_the_previous_iteration_began(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(price_tape, "clock", lambda: clock[0])
    tape, ticker = PriceTape(), Ticker({"last": 200.0})
    marks = live(ticker, tape)
    tape.record("BTC/USD", 150.0)  # at 100, before the bot's first iteration
    clock[0] = 101.0
    marks.begin_iteration()  # the first: only prices from now on are fresh
    assert marks.price("BTC/USD", 1.0, NOW) == 200.0 and ticker.asked == ["BTC/USD"]
    clock[0] = 103.0
    tape.record("BTC/USD", 160.0)  # freqtrade's own fetch during that iteration
    clock[0] = 106.0
    marks.begin_iteration()
    assert marks.price("BTC/USD", 1.0, NOW) == 160.0 and ticker.asked == ["BTC/USD"]
    marks.refresh()  # a trim round: current prices, whatever the tape has
    assert marks.price("BTC/USD", 1.0, NOW) == 200.0
    assert ticker.asked == ["BTC/USD", "BTC/USD"]


def test_the_backtest_source_without_a_loop_time_or_a_candle_uses_the_open_rate() -> None:
    source = BacktestMarkSource(BacktestMarks(lambda _pair: None, 3600))
    assert source.price("ADA/USD", 1.25, None) == 1.25
    assert source.price("ADA/USD", 1.5, NOW) == 1.5  # no candle at all
    assert source.fallbacks() == {}  # counted and logged by BacktestMarks itself
