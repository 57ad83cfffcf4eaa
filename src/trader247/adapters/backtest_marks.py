"""Backtest marks: each pair's whole candle history, indexed once, searched by the loop's time.

In backtesting freqtrade slices ``dp.get_pair_dataframe`` (and ``get_analyzed_dataframe``) at
the candle being processed. Keeping such a slice across candles freezes every later mark at the
close before the pair's first trade: the cap then missed rallies and trimmed in declines
(issue [C2]). Slicing again per trade per candle cost a third of a backtest.

Decision: the candles come from ``dp.historic_ohlcv`` (freqtrade's own cached, unsliced copy of
the data it backtests, startup candles included), are turned into two arrays once per pair and
backtest run, and :func:`trader247.core.marks.marks_at` picks the close of the newest candle
closed at the loop's time: a binary search, never a look-ahead. A mark from an older candle (a
gap, a delisted pair) or none at all (the trade's open rate is used) is counted per pair and
logged once per pair as ``MARK_FALLBACK``; ``trader247 exposure-report`` counts the same marks.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from trader247.core.marks import CloseSeries, mark_at

logger = logging.getLogger(__name__)


class BacktestMarks:
    """``history(pair)`` returns the pair's full OHLCV frame (``dp.historic_ohlcv``)."""

    def __init__(self, history: Callable[[str], Any], timeframe_seconds: int) -> None:
        self._history = history
        self._timeframe_seconds = timeframe_seconds
        self._series: dict[str, CloseSeries] = {}
        self.fallbacks: Counter[str] = Counter()

    def price(self, pair: str, now: datetime, fallback: float) -> float:
        series = self._series.get(pair)
        if series is None:
            series = self._series[pair] = self._load(pair)
        mark = mark_at(series, int(now.timestamp() * 1000))
        if mark.stale:
            self._count(pair, now, mark.candle_open_ms)
        return fallback if mark.price != mark.price else mark.price  # NaN: no candle yet

    def _load(self, pair: str) -> CloseSeries:
        frame = self._history(pair)
        if frame is None or not len(frame):
            return CloseSeries.of([], [], self._timeframe_seconds)
        stamps = frame["date"].dt.as_unit("ms").astype("int64").to_numpy()
        return CloseSeries.of(stamps, frame["close"].to_numpy(dtype=float),
                              self._timeframe_seconds)

    def _count(self, pair: str, now: datetime, candle_open_ms: int) -> None:
        if not self.fallbacks[pair]:
            last = ("none: marked at the open rate" if candle_open_ms < 0 else
                    datetime.fromtimestamp(candle_open_ms / 1000, UTC).isoformat())
            logger.warning("MARK_FALLBACK: pair=%s time=%s last_candle=%s (gap or delisted: "
                           "marked at the last known close; counted by exposure-report)",
                           pair, now.isoformat(), last)
        self.fallbacks[pair] += 1
