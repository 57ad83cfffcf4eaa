"""What the cap measures, read from freqtrade's own objects (``cap_exposure``).

Real freqtrade ``Trade`` / ``Order`` rows in an in-memory database, freqtrade's dry-run
``Wallets`` (balances computed from those rows and ``dry_run_wallet``), and the backtest mark
source over candles: the stake balance, the marks, the external holdings and the exchange
minimums the cap works with.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from freqtrade.enums import RunMode
from freqtrade.persistence import Trade, init_db
from freqtrade.wallets import Wallets

from trader247.adapters.backtest_marks import BacktestMarks
from trader247.adapters.cap_exposure import (
    ExposureReader,
    exchange_increase_min_stake,
    exchange_min_stakes,
)
from trader247.adapters.cap_marks import BacktestMarkSource
from trader247.core.exposure import Position, Snapshot

from .test_cap_orm import buy, trade

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    init_db("sqlite://")
    yield
    Trade.session.remove()


class DryRunExchange:
    """The two questions freqtrade's dry-run ``Wallets`` ask the exchange."""

    def get_proxy_coin(self) -> str:
        return "USD"

    def get_pair_base_currency(self, pair: str) -> str:
        return pair.split("/")[0]


def dry_run_wallets(**start: float) -> Wallets:
    """freqtrade's own wallets of a dry-run bot started with ``dry_run_wallet=start``."""
    config = {"dry_run": True, "runmode": RunMode.DRY_RUN, "stake_currency": "USD",
              "dry_run_wallet": start}
    return Wallets(config, DryRunExchange())  # type: ignore[arg-type]


def candle_marks(closes: dict[str, list[float]]) -> BacktestMarkSource:
    """Backtest marks from hourly candles opening at NOW - len(closes), the last one closing
    at NOW."""
    marks = BacktestMarks(lambda _pair: None, 3600)
    for pair, values in closes.items():
        dates = pd.date_range(end=NOW - timedelta(hours=1), periods=len(values), freq="1h")
        marks.preload(pair, pd.DataFrame({"date": dates, "close": values}))
    return BacktestMarkSource(marks)


TICKERS: dict[str, dict[str, Any] | None] = {
    "DOGE/USD": {"last": 0.25}, "ADA/USD": {"last": 0.5}, "BTC/USD": {"last": 120.0},
    "ETH/USD": {"last": 3000.0}, "XLM/USD": {"last": None}, "USD/USD": {"last": 1.0}}


def reader(wallets: Any, *, count_external: bool, marks: Any = None,
           ticker: Any = TICKERS.get) -> ExposureReader:
    return ExposureReader("USD", marks or candle_marks({"BTC/USD": [110.0, 120.0]}), wallets,
                          count_external, ticker)


# ------------------------------------------------------------------ balance and marks
def test_the_stake_balance_is_freqtrades_wallet_total_after_the_trades() -> None:
    held = trade("BTC/USD", buy(1.0, 100.0))
    snapshot = reader(dry_run_wallets(USD=1000.0), count_external=False).snapshot([held], NOW)
    assert snapshot.stake_balance == pytest.approx(900.0)  # $1000 - the $100 stake
    assert snapshot.external_holdings_value == 0.0


def test_without_wallets_the_balance_is_zero() -> None:
    """A strategy object before freqtrade gave it wallets (``wallets`` None)."""
    held = trade("BTC/USD", buy(1.0, 100.0))
    snapshot = reader(None, count_external=True).snapshot([held], NOW)
    assert (snapshot.stake_balance, snapshot.external_holdings_value) == (0.0, 0.0)
    assert snapshot.positions == (Position("BTC/USD", 1.0, 120.0),)


def test_each_trade_is_marked_at_the_close_of_the_candle_closed_at_now() -> None:
    btc = trade("BTC/USD", buy(1.0, 100.0))
    sol = trade("SOL/USD", buy(2.0, 10.0))  # no candles: marked at its open rate
    marks = candle_marks({"BTC/USD": [110.0, 120.0, 130.0]})
    exposure = reader(None, count_external=False, marks=marks)
    at_now = exposure.snapshot([btc, sol], NOW)
    assert [(p.pair, p.amount, p.mark_price) for p in at_now.positions] == [
        ("BTC/USD", 1.0, 130.0), ("SOL/USD", 2.0, 10.0)]
    an_hour_earlier = exposure.snapshot([btc], NOW - timedelta(hours=1))
    assert an_hour_earlier.positions[0].mark_price == 120.0


# ------------------------------------------------------------------ external holdings
def test_holdings_bought_outside_the_bot_count_at_their_ticker() -> None:
    """The operator's DOGE and ADA count; the stake currency, the bot's own BTC and an empty
    ETH balance do not."""
    held = trade("BTC/USD", buy(1.0, 100.0))
    wallets = dry_run_wallets(USD=1000.0, DOGE=400.0, ETH=0.0, ADA=50.0)
    assert list(wallets.get_all_balances())[0] == "BTC"  # the bot's asset comes first
    counted = reader(wallets, count_external=True).snapshot([held], NOW)
    assert counted.external_holdings_value == pytest.approx(400.0 * 0.25 + 50.0 * 0.5)
    assert counted.stake_balance == pytest.approx(900.0)
    ignored = reader(wallets, count_external=False).snapshot([held], NOW)
    assert ignored.external_holdings_value == 0.0


@pytest.mark.parametrize(("asset", "ticker"), [
    ("SHIB", None),              # no market for it: no ticker
    ("XLM", {"last": None}),     # a ticker without a last price
])
def test_a_holding_without_a_price_counts_nothing_and_stops_nothing(
        asset: str, ticker: Any) -> None:
    tickers = {f"{asset}/USD": ticker, "DOGE/USD": {"last": 0.25}}
    wallets = dry_run_wallets(USD=1000.0, **{asset: 10.0}, DOGE=400.0)
    snapshot = reader(wallets, count_external=True, ticker=tickers.get).snapshot([], NOW)
    assert snapshot.external_holdings_value == pytest.approx(100.0)


def test_backtests_have_no_tickers_so_no_external_value() -> None:
    wallets = dry_run_wallets(USD=1000.0, DOGE=400.0)
    snapshot = reader(wallets, count_external=True, ticker=None).snapshot([], NOW)
    assert snapshot.external_holdings_value == 0.0


# ------------------------------------------------------------------ exchange minimums
class MinimumExchange:
    """freqtrade's ``Exchange.get_min_pair_stake_amount``, answering from a table and recording
    what it was asked."""

    def __init__(self, minimums: dict[str, float | None]) -> None:
        self.minimums = minimums
        self.asked: list[tuple[str, float, float]] = []

    def get_min_pair_stake_amount(self, pair: str, price: float, stoploss: float,
                                  leverage: float = 1.0) -> float | None:
        self.asked.append((pair, price, stoploss))
        return self.minimums[pair]


def test_each_positions_minimum_is_asked_at_its_mark_with_the_current_stoploss() -> None:
    exchange = MinimumExchange({"BTC/USD": 10.5, "DOGE/USD": None})
    stoploss = [-0.1]
    min_stakes = exchange_min_stakes(exchange, lambda: stoploss[0])
    snapshot = Snapshot(500.0, (Position("BTC/USD", 1.0, 120.0), Position("DOGE/USD", 4.0, 0.25)))
    assert min_stakes(snapshot) == {"BTC/USD": 10.5, "DOGE/USD": 0.0}  # no limit: none
    stoploss[0] = -0.25  # hyperopt sets another stoploss per epoch
    min_stakes(snapshot)
    assert exchange.asked == [("BTC/USD", 120.0, -0.1), ("DOGE/USD", 0.25, -0.1),
                              ("BTC/USD", 120.0, -0.25), ("DOGE/USD", 0.25, -0.25)]


def test_without_an_exchange_every_minimum_is_zero() -> None:
    snapshot = Snapshot(500.0, (Position("BTC/USD", 1.0, 120.0),))
    assert exchange_min_stakes(None, lambda: -0.1)(snapshot) == {"BTC/USD": 0.0}
    assert exchange_increase_min_stake(None)("BTC/USD", 120.0) is None


def test_the_minimum_of_an_increase_is_freqtrades_with_stoploss_zero() -> None:
    """As freqtrade computes it for a position adjustment (``stoploss=0``)."""
    exchange = MinimumExchange({"BTC/USD": 1.05, "DOGE/USD": None})
    minimum = exchange_increase_min_stake(exchange)
    assert minimum("BTC/USD", 120.0) == 1.05
    assert minimum("DOGE/USD", 0.25) is None
    assert exchange.asked == [("BTC/USD", 120.0, 0.0), ("DOGE/USD", 0.25, 0.0)]
