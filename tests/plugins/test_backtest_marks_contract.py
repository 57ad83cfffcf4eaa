"""``adapters.backtest_marks``: which close marks a position at a loop time, how it is found
(a table lookup on every candle close of the file, a search otherwise: the module's speed
decision), what a fallback mark logs, and which data file is read."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from freqtrade.data.history import get_datahandler
from freqtrade.enums import CandleType

from trader247.adapters import backtest_marks
from trader247.adapters.backtest_marks import BacktestMarks, freqtrade_candles

START = datetime(2025, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)


def candles(closes: list[float], start: datetime = START) -> pd.DataFrame:
    frame = pd.DataFrame({"date": pd.date_range(start, periods=len(closes), freq="1h"),
                          "close": closes})
    for column in ("open", "high", "low"):
        frame[column] = frame["close"]
    frame["volume"] = 1.0
    return frame[["date", "open", "high", "low", "close", "volume"]]


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The loop times that needed a search (``core.marks.mark_at``) instead of the table."""
    seen: list[int] = []
    search = backtest_marks.mark_at

    def counted(series: Any, time_ms: int) -> Any:
        seen.append(time_ms)
        return search(series, time_ms)

    monkeypatch.setattr(backtest_marks, "mark_at", counted)
    return seen


def ms(time: datetime) -> int:
    return int(time.timestamp() * 1000)


def test_every_candle_close_of_the_file_is_a_table_lookup(searches: list[int]) -> None:
    marks = BacktestMarks(lambda _pair: candles([10.0, 11.0, 12.0, 13.0]), 3600)
    # bot_loop_start at 01:00 .. 04:00: each candle's close time, the close of that candle
    assert [marks.price("ADA/USD", START + k * H, 1.0) for k in range(1, 5)] == [
        10.0, 11.0, 12.0, 13.0]
    assert searches == []
    assert marks.fallbacks == {}


@pytest.mark.parametrize(("time", "price", "stale"), [
    (START + 1.5 * H, 10.0, False),  # --timeframe-detail: between two closes
    (START + 4.5 * H, 13.0, False),
    (START, 7.0, True),              # before the first close: the open rate
    (START + 5 * H, 13.0, True),     # one candle after the file: the last close
    (START + 9 * H, 13.0, True),
])
def test_any_other_time_is_searched_for_the_newest_closed_candle(
        searches: list[int], time: datetime, price: float, stale: bool) -> None:
    marks = BacktestMarks(lambda _pair: candles([10.0, 11.0, 12.0, 13.0]), 3600)
    assert marks.price("ADA/USD", time, 7.0) == price
    assert searches == [ms(time)]
    assert marks.fallbacks["ADA/USD"] == int(stale)


# a candle that opened at the epoch itself is a candle (no candle at all is a negative time)
@pytest.mark.parametrize("start", [START, datetime(1970, 1, 1, tzinfo=UTC)])
def test_a_gap_is_marked_at_the_last_close_and_logged_once_with_its_candle(
        caplog: pytest.LogCaptureFixture, start: datetime) -> None:
    frame = candles([10.0, 11.0, 12.0], start).drop(index=1).reset_index(drop=True)  # +1h gone
    marks = BacktestMarks(lambda _pair: frame, 3600)
    assert marks.price("ADA/USD", start + 2 * H, 1.0) == 10.0
    assert marks.price("ADA/USD", start + 2 * H, 1.0) == 10.0
    assert marks.price("ADA/USD", start + 3 * H, 1.0) == 12.0  # current again
    assert marks.fallbacks["ADA/USD"] == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"MARK_FALLBACK: pair=ADA/USD time={(start + 2 * H).isoformat()} "
        f"last_candle={start.isoformat()} (gap or delisted: marked at the last known "
        "close; counted by exposure-report)"]


def test_a_pair_without_candles_is_marked_at_the_open_rate_and_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    marks = BacktestMarks(lambda _pair: None, 3600)
    assert marks.price("NEW/USD", START, 1.25) == 1.25
    assert [r.getMessage() for r in caplog.records] == [
        "MARK_FALLBACK: pair=NEW/USD time=2025-01-01T00:00:00+00:00 last_candle=none: marked at "
        "the open rate (gap or delisted: marked at the last known close; counted by "
        "exposure-report)"]


def test_candles_preloaded_again_replace_the_pairs_index() -> None:
    """A new backtest run in the same process (hyperopt) hands the candles again."""
    marks = BacktestMarks(lambda _pair: candles([1.0, 1.0]), 3600)  # the data file
    assert marks.price("ADA/USD", START + H, 9.0) == 1.0
    marks.preload("ADA/USD", candles([2.0, 2.0]))
    assert marks.price("ADA/USD", START + H, 9.0) == 2.0
    marks.preload("ADA/USD", candles([3.0, 3.0]))
    assert marks.price("ADA/USD", START + H, 9.0) == 3.0


# ------------------------------------------------------------------ the data file


def store(datadir: Path, data_format: str, pair: str, closes: list[float],
          candle_type: CandleType = CandleType.SPOT) -> None:
    get_datahandler(datadir, data_format).ohlcv_store(pair, "1h", candles(closes), candle_type)


def test_the_configured_data_format_is_read(tmp_path: Path) -> None:
    store(tmp_path, "parquet", "ADA/USD", [1.0, 2.0])
    store(tmp_path, "feather", "ADA/USD", [5.0, 6.0])
    parquet = freqtrade_candles({"datadir": tmp_path, "dataformat_ohlcv": "parquet"}, "1h")
    assert parquet("ADA/USD")["close"].tolist() == [1.0, 2.0]
    default = freqtrade_candles({"datadir": tmp_path}, "1h")  # freqtrade's default: feather
    assert default("ADA/USD")["close"].tolist() == [5.0, 6.0]


def test_the_candle_type_freqtrade_backtests_is_read(tmp_path: Path) -> None:
    store(tmp_path, "feather", "ADA/USD", [1.0, 2.0])
    store(tmp_path, "feather", "ADA/USD:USD", [5.0, 6.0], CandleType.FUTURES)
    futures = freqtrade_candles({"datadir": tmp_path, "candle_type_def": CandleType.FUTURES},
                                "1h")
    assert futures("ADA/USD:USD")["close"].tolist() == [5.0, 6.0]
    spot = freqtrade_candles({"datadir": tmp_path}, "1h")
    assert spot("ADA/USD")["close"].tolist() == [1.0, 2.0]


def test_a_pair_without_a_data_file_is_empty_without_freqtrades_download_hint(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    load = freqtrade_candles({"datadir": tmp_path, "dataformat_ohlcv": "feather"}, "1h")
    assert load("XRP/USD").empty
    assert caplog.records == []  # the cap counts and logs its own fallback (MARK_FALLBACK)
