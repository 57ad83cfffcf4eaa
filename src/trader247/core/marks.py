"""The mark rule (pure): which candle close values a position at time t; no prices of its own.

ONE definition for backtests, the report and the tests; where the prices come from is the
adapters' job (:mod:`~trader247.adapters.cap_marks`, ``backtest_marks``, ``price_tape``).

A position is marked at the close of the newest candle that had **closed** at t: the candle that
opened at ``t - timeframe`` when t is a candle boundary (freqtrade calls ``bot_loop_start`` at
the open of the candle it is about to process, so that candle's close is the future). Nothing
later is ever read, so a mark never looks ahead.

Bad input does not stop anything: when the candle that should have closed at t is missing (a
gap in the data, a pair delisted before the end of the backtest) the newest older close is used
and the mark is flagged ``stale``, so the caller can count and report it. Before the first
candle of a pair there is no close at all: the price is NaN and the caller supplies its own
fallback (the trade's open rate, the first fill price), also counted as stale.

Times are integer milliseconds since the epoch (freqtrade's ``*_timestamp`` fields), candle
open times ascending; the timeframe is given in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class CloseSeries:
    """One pair's candles as two sorted arrays; build with :meth:`of` (it validates)."""

    open_times_ms: NDArray[np.int64]
    closes: NDArray[np.float64]
    timeframe_ms: int

    @classmethod
    def of(cls, open_times_ms: ArrayLike, closes: ArrayLike,
           timeframe_seconds: int) -> CloseSeries:
        """Candles with a missing, non-finite or non-positive close are dropped (they are gaps,
        not prices); unsorted or duplicated open times are sorted and the later row kept."""
        if timeframe_seconds <= 0:
            raise ValueError(f"timeframe_seconds must be > 0, got {timeframe_seconds!r}")
        times = np.asarray(open_times_ms, dtype=np.int64)
        prices = np.asarray(closes, dtype=np.float64)
        if times.shape != prices.shape or times.ndim != 1:
            raise ValueError(f"open times {times.shape} and closes {prices.shape} differ in shape")
        usable = np.isfinite(prices) & (prices > 0)
        times, prices = times[usable], prices[usable]
        if len(times) > 1 and not bool(np.all(times[1:] > times[:-1])):
            order = np.argsort(times, kind="stable")
            times, prices = times[order], prices[order]
            last = np.append(times[1:] != times[:-1], True)  # keep the last row of a duplicate
            times, prices = times[last], prices[last]
        return cls(times, prices, int(timeframe_seconds) * 1000)

    def __len__(self) -> int:
        return len(self.open_times_ms)


@dataclass(frozen=True)
class Marks:
    """``prices[i]`` marks at ``times[i]``; NaN when no candle had closed yet. ``stale[i]``: the
    candle that closed at ``times[i]`` is missing and an older close (or nothing) was used."""

    prices: NDArray[np.float64]
    stale: NDArray[np.bool_]
    candle_open_ms: NDArray[np.int64]  # open time of the candle used; -1 where none


def marks_at(series: CloseSeries, times_ms: ArrayLike) -> Marks:
    """The mark of ``series`` at each of ``times_ms``: close of the newest candle closed by then.

    A candle that opened at ``o`` has closed at ``o + timeframe``. The mark is stale when the
    candle used closed a whole timeframe or more before t, i.e. a newer candle should exist.
    O(len(times) x log(len(series))).
    """
    times = np.atleast_1d(np.asarray(times_ms, dtype=np.int64))
    step = series.timeframe_ms
    index = np.searchsorted(series.open_times_ms, times - step, side="right") - 1
    found = index >= 0
    prices = np.full(len(times), np.nan)
    opened = np.full(len(times), -1, dtype=np.int64)
    prices[found] = series.closes[index[found]]
    opened[found] = series.open_times_ms[index[found]]
    stale = ~found | (times - (opened + step) >= step)
    return Marks(prices, stale, opened)


@dataclass(frozen=True, slots=True)
class Mark:
    price: float  # NaN when no candle had closed by then
    stale: bool
    candle_open_ms: int  # -1 when none


def mark_at(series: CloseSeries, time_ms: int) -> Mark:
    """:func:`marks_at` for a single time (the bot's per-trade question)."""
    marks = marks_at(series, (time_ms,))
    return Mark(float(marks.prices[0]), bool(marks.stale[0]), int(marks.candle_open_ms[0]))
