"""Backtest candle index: each pair's whole close history, looked up by the loop's time.

The backtest half of the cap's marks (``cap_marks.BacktestMarkSource`` reads it), applying
:mod:`trader247.core.marks`' rule once per candle boundary.

In backtesting freqtrade slices ``dp.get_pair_dataframe`` (and ``get_analyzed_dataframe``) at
the candle being processed. Keeping such a slice across candles froze every later mark at the
close before the pair's first trade: the cap missed rallies and trimmed in declines. Slicing
again per trade per candle cost a third of a backtest.

Decisions:
- The candles are the ones freqtrade backtests: ``IStrategy.advise_all_indicators(data)``
  receives every pair's whole frame (startup candles included) before the loop starts, and the
  mixin hands them to :meth:`BacktestMarks.preload` (two arrays per pair, no second read). A
  pair not seen there (a strategy overriding that method, a pair a dynamic pairlist adds
  later) is read from its data file through freqtrade's own loader (``get_datahandler(datadir,
  dataformat_ohlcv).ohlcv_load``), whole and unfilled. Never ``dp.historic_ohlcv`` per pair:
  it fills gaps with a resample, 0.13-0.3 s per pair, and a filled candle's close is the
  previous close anyway, which is what :func:`trader247.core.marks.marks_at` falls back to.
- Per pair and backtest run, :func:`~trader247.core.marks.marks_at` is evaluated once over
  every candle boundary of the file; a loop time on a boundary (``bot_loop_start``, the entry
  hooks) is then a list lookup, any other time (``--timeframe-detail``) a binary search. Both
  are the close of the newest candle closed at that time: never a look-ahead.
- A mark from an older candle (a gap, a pair delisted while held) or none at all (the trade's
  open rate is used) is counted per pair and logged once per pair as ``MARK_FALLBACK``;
  ``trader247 exposure-report`` counts the same marks as ``stale marks``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from freqtrade.data.history import get_datahandler
from freqtrade.enums import CandleType

from trader247.core.marks import CloseSeries, mark_at, marks_at
from trader247.core.words import Word

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _PairMarks:
    series: CloseSeries
    first_ms: int  # the first boundary in the table
    prices: list[float]
    stale: list[bool]
    opened: list[int]

    @classmethod
    def of(cls, series: CloseSeries) -> _PairMarks:
        step = series.timeframe_ms
        if not len(series):
            return cls(series, 0, [], [], [])
        first = int(series.open_times_ms[0]) + step
        boundaries = np.arange(first, int(series.open_times_ms[-1]) + 2 * step, step)
        table = marks_at(series, boundaries)
        return cls(series, first, table.prices.tolist(), table.stale.tolist(),
                   table.candle_open_ms.tolist())

    def at(self, time_ms: int) -> tuple[float, bool, int]:
        offset = time_ms - self.first_ms
        index, rest = divmod(offset, self.series.timeframe_ms)
        if rest == 0 and 0 <= index < len(self.prices):
            return self.prices[index], self.stale[index], self.opened[index]
        mark = mark_at(self.series, time_ms)
        return mark.price, mark.stale, mark.candle_open_ms


class BacktestMarks:
    """``candles(pair)`` returns the pair's OHLCV frame (``date`` and ``close`` are read)."""

    def __init__(self, candles: Callable[[str], Any], timeframe_seconds: int) -> None:
        self._candles = candles
        self._timeframe_seconds = timeframe_seconds
        self._pairs: dict[str, _PairMarks] = {}
        self._preloaded: dict[str, CloseSeries] = {}
        self.fallbacks: Counter[str] = Counter()

    def preload(self, pair: str, frame: Any) -> None:
        """The pair's candles as freqtrade hands them to the strategy (``date``, ``close``)."""
        self._preloaded[pair] = self._series(frame)
        self._pairs.pop(pair, None)

    def price(self, pair: str, now: datetime, fallback: float) -> float:
        marks = self._pairs.get(pair)
        if marks is None:
            series = self._preloaded.get(pair)
            marks = self._pairs[pair] = _PairMarks.of(
                series if series is not None else self._series(self._candles(pair)))
        price, stale, opened = marks.at(int(now.timestamp() * 1000))
        if stale:
            self._count(pair, now, opened)
        return fallback if price != price else price  # NaN: no candle had closed yet

    def _series(self, frame: Any) -> CloseSeries:
        if frame is None or not len(frame):
            return CloseSeries.of([], [], self._timeframe_seconds)
        stamps = frame["date"].dt.as_unit("ms").astype("int64").to_numpy()
        # CloseSeries.of makes the closes float64 (a missing one NaN, dropped as a gap).
        return CloseSeries.of(stamps, frame["close"].to_numpy(), self._timeframe_seconds)

    def _count(self, pair: str, now: datetime, candle_open_ms: int) -> None:
        if not self.fallbacks[pair]:
            last = ("none: marked at the open rate" if candle_open_ms < 0 else
                    datetime.fromtimestamp(candle_open_ms / 1000, UTC).isoformat())
            logger.warning("%s: pair=%s time=%s last_candle=%s (gap or delisted: "
                           "marked at the last known close; counted by exposure-report)",
                           Word.MARK_FALLBACK, pair, now.isoformat(), last)
        self.fallbacks[pair] += 1


def freqtrade_candles(config: dict[str, Any], timeframe: str) -> Callable[[str], Any]:
    """The pair's data file, whole and unfilled, through freqtrade's own data handler (built
    on first use: most backtests never need it)."""
    def load(pair: str) -> Any:
        # Unset keys take freqtrade's own defaults (feather files, spot candles).
        handler = get_datahandler(config["datadir"], config.get("dataformat_ohlcv"))
        candle_type = CandleType.from_string(config.get("candle_type_def"))
        return handler.ohlcv_load(pair, timeframe, candle_type=candle_type, fill_missing=False,
                                  drop_incomplete=False, warn_no_data=False)

    return load
