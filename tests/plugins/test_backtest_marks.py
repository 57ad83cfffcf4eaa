"""Backtest marks move every candle ([C2]): the unsliced history searched by the loop's time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from freqtrade.enums import RunMode
from tests.plugins.cap_fakes import RecordedLocks, with_parts
from tests.strategy_double import StrategyDouble

from trader247.adapters.backtest_marks import BacktestMarks
from trader247.adapters.cap_exposure import ExposureReader
from trader247.adapters.cap_marks import BacktestMarkSource
from trader247.core.exposure import CapState
from trader247.strategy import ExposureCapMixin

REPO = Path(__file__).resolve().parents[2]
START = datetime(2025, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)


def candles(closes: list[float], start: datetime = START) -> pd.DataFrame:
    return pd.DataFrame({"date": pd.date_range(start, periods=len(closes), freq="1h"),
                         "close": closes})


class FreqtradeLikeDp:
    """``get_pair_dataframe`` sliced at the current candle, as freqtrade's DataProvider does in
    backtesting; ``candles`` stands for the data file (``freqtrade_candles``)."""

    def __init__(self, frames: dict[str, pd.DataFrame]) -> None:
        self.frames = frames
        self.slice_date = START
        self.history_calls: list[str] = []

    def get_pair_dataframe(self, pair: str, timeframe: str) -> pd.DataFrame:
        frame = self.frames[pair]
        return frame.loc[frame["date"] < self.slice_date]

    def candles(self, pair: str) -> pd.DataFrame:
        self.history_calls.append(pair)
        return self.frames[pair].copy()

    def send_msg(self, *_a: Any, **_k: Any) -> None:
        return None


class Probe(ExposureCapMixin, StrategyDouble):
    def bot_loop_start(self, **kwargs: Any) -> None:  # IStrategy's default
        return None


def backtesting(frames: dict[str, pd.DataFrame], trades: list[Any], balance: float) -> Any:
    strategy = Probe()
    strategy.config = {"stake_currency": "USD", "dry_run": True, "runmode": RunMode.BACKTEST,
                       "config_files": [str(REPO / "config" / "config.json")]}
    strategy.dp = FreqtradeLikeDp(frames)
    strategy.wallets = SimpleNamespace(get_total=lambda _c: balance)
    strategy.timeframe = "1h"
    strategy.stoploss = -0.1
    # The data file (freqtrade_candles) is the fake DataProvider's ``candles``.
    marks = BacktestMarkSource(BacktestMarks(strategy.dp.candles, 3600))
    with_parts(strategy, marks=marks, open_trades=lambda: trades, locks=RecordedLocks(),
               exposure=ExposureReader("USD", marks, strategy.wallets, False, None))
    return strategy


def mark(strategy: Any, trade: Any, now: datetime) -> float:
    price: float = strategy.cap_adapter.marks.price(trade.pair, trade.open_rate, now)
    return price


def trade(pair: str, amount: float, open_rate: float) -> Any:
    return SimpleNamespace(pair=pair, amount=amount, open_rate=open_rate, open_orders=[],
                           nr_of_successful_entries=1, entry_side="buy", stake_amount=amount)


def test_marks_follow_every_candle_after_the_first_call() -> None:
    ada = trade("ADA/USD", 100.0, 1.0)
    strategy = backtesting({"ADA/USD": candles([1.0, 1.0, 1.5, 2.0, 2.5])}, [ada], 800.0)
    seen = []
    for hour in range(1, 6):
        now = START + hour * H
        strategy.dp.slice_date = now  # what freqtrade does before the next candle
        seen.append(mark(strategy, ada, now))
    # Each loop sees the candle that closed at its time (at 03:00 the 02:00 candle: 1.5); a
    # slice kept from the first call would have answered 1.0 forever.
    assert seen == [1.0, 1.0, 1.5, 2.0, 2.5]
    assert strategy.dp.history_calls == ["ADA/USD"]  # indexed once, not sliced per call


def test_freqtrade_candles_reads_the_data_file_whole_and_unfilled(tmp_path: Path) -> None:
    from trader247.adapters.backtest_marks import freqtrade_candles

    frame = candles([1.0, 2.0, 3.0]).drop(index=1).reset_index(drop=True)  # 01:00 missing
    for column in ("open", "high", "low"):
        frame[column] = frame["close"]
    frame["volume"] = 1.0
    frame.to_feather(tmp_path / "ADA_USD-1h.feather")
    load = freqtrade_candles({"datadir": tmp_path, "dataformat_ohlcv": "feather",
                              "candle_type_def": "spot"}, "1h")
    loaded = load("ADA/USD")
    assert loaded["close"].tolist() == [1.0, 3.0]  # the gap stays a gap (counted, not filled)
    marks = BacktestMarks(load, 3600)
    assert marks.price("ADA/USD", START + 2 * H, fallback=0.0) == 1.0
    assert marks.fallbacks["ADA/USD"] == 1
    assert marks.price("ADA/USD", START + 3 * H, fallback=0.0) == 3.0


def test_the_cap_trims_a_rally_it_would_have_missed_with_a_frozen_slice() -> None:
    ada = trade("ADA/USD", 220.0, 1.0)  # 22 % of $1000 at entry
    strategy = backtesting({"ADA/USD": candles([1.0] * 3 + [1.2, 1.4, 1.6])}, [ada], 780.0)
    states = []
    for hour in range(1, 7):
        strategy.bot_loop_start(current_time=START + hour * H)
        states.append(strategy.cap.state)
    # 1.2 x 220 = 264 of 1044: 25.3 % -> REDUCING once the 03:00 candle has closed (04:00).
    assert states[:3] == [CapState.ACTIVE] * 3 and states[3] is CapState.REDUCING


def test_a_missing_candle_falls_back_to_the_last_close_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    marks = BacktestMarks(lambda _pair: candles([10.0, 11.0]), 3600)
    assert marks.price("OLD/USD", START + 2 * H, fallback=1.0) == 11.0
    assert marks.price("OLD/USD", START + 5 * H, fallback=1.0) == 11.0  # delisted
    assert marks.price("OLD/USD", START + 6 * H, fallback=1.0) == 11.0
    assert marks.fallbacks["OLD/USD"] == 2
    assert caplog.text.count("MARK_FALLBACK: pair=OLD/USD") == 1
    none = BacktestMarks(lambda _pair: pd.DataFrame(), 3600)
    assert none.price("NEW/USD", START, fallback=1.25) == 1.25  # no candle at all: open rate
    assert none.fallbacks["NEW/USD"] == 1


def test_a_new_backtest_run_in_the_same_process_starts_a_fresh_cap() -> None:
    """Hyperopt epochs reuse the strategy object; the cap state must not leak between them."""
    ada = trade("ADA/USD", 300.0, 1.0)
    strategy = backtesting({"ADA/USD": candles([1.0] * 10)}, [ada], 700.0)  # 30 %: REDUCING
    for hour in range(1, 5):
        strategy.bot_loop_start(current_time=START + hour * H)
    controller = strategy.cap
    assert controller.state is CapState.REDUCING and controller.cycle == 4
    ada.amount = 100.0  # the next epoch holds less: 10 %
    strategy.bot_loop_start(current_time=START + H)
    assert strategy.cap is controller  # the object the protection holds stays
    assert controller.cycle == 1 and controller.state is CapState.ACTIVE


def test_the_candles_freqtrade_backtests_are_indexed_without_a_second_read() -> None:
    class Base(StrategyDouble):
        def advise_all_indicators(self, data: dict[str, pd.DataFrame]) -> dict[str, Any]:
            return {pair: frame.assign(rsi=50.0) for pair, frame in data.items()}

    class WithIndicators(ExposureCapMixin, Base):
        pass

    ada = trade("ADA/USD", 100.0, 1.0)
    strategy = backtesting({}, [ada], 900.0)
    strategy.__class__ = WithIndicators
    analysed = strategy.advise_all_indicators({"ADA/USD": candles([1.0, 2.0, 3.0])})
    assert list(analysed["ADA/USD"].columns) == ["date", "close", "rsi"]  # freqtrade's result
    assert mark(strategy, ada, START + 3 * H) == 3.0
    assert strategy.dp.history_calls == []  # the data file was never read


def test_freqtrade_still_hands_all_candles_to_advise_all_indicators() -> None:
    """Pins the freqtrade method the marks rely on (freqtrade 2026.9)."""
    import inspect

    from freqtrade.optimize.backtesting import Backtesting
    from freqtrade.strategy import IStrategy

    assert list(inspect.signature(IStrategy.advise_all_indicators).parameters) == ["self", "data"]
    assert "self.strategy.advise_all_indicators(data)" in inspect.getsource(
        Backtesting.backtest_one_strategy)
