"""Mark contract: which candle rows are prices, which duplicate wins, the types of the series,
and "no candle" spelled -1 (core/marks.py module doc)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trader247.core.marks import CloseSeries, mark_at, marks_at

H = 3_600_000  # one hour in ms


def test_a_one_second_timeframe_is_valid() -> None:
    series = CloseSeries.of([0, 1000], [10.0, 11.0], 1)
    assert series.timeframe_ms == 1000
    assert mark_at(series, 2000).price == 11.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -1.0])
def test_a_close_that_is_not_a_price_is_a_gap(bad: float) -> None:
    series = CloseSeries.of([0, H, 2 * H], [10.0, bad, 12.0], 3600)
    assert series.open_times_ms.tolist() == [0, 2 * H]
    mark = mark_at(series, 2 * H)  # the 01:00 candle closed at 02:00 without a price
    assert (mark.price, mark.stale, mark.candle_open_ms) == (10.0, True, 0)


@pytest.mark.parametrize("times, closes, kept_times, kept_closes", [
    ([H, 0], [11.0, 10.0], [0, H], [10.0, 11.0]),                     # two rows, reversed
    ([0, 2 * H, H], [10.0, 12.0, 11.0], [0, H, 2 * H], [10.0, 11.0, 12.0]),  # first is lowest
    ([0, H, H], [10.0, 11.0, 11.5], [0, H], [10.0, 11.5]),            # sorted, duplicated
    ([H, H], [11.0, 11.5], [H], [11.5]),
])
def test_rows_are_sorted_and_the_later_duplicate_wins(
        times: list[int], closes: list[float], kept_times: list[int],
        kept_closes: list[float]) -> None:
    series = CloseSeries.of(times, closes, 3600)
    assert series.open_times_ms.tolist() == kept_times
    assert series.closes.tolist() == kept_closes


def test_the_later_duplicate_wins_in_a_long_unsorted_series() -> None:
    # Many rows per open time, shuffled: a stable sort keeps the input order among equals.
    rng = np.random.default_rng(3)
    times = rng.integers(0, 40, 3000) * H
    closes = np.arange(1, 3001, dtype=float)
    series = CloseSeries.of(times, closes, 3600)
    last = {int(t): float(c) for t, c in zip(times, closes, strict=True)}
    assert series.open_times_ms.tolist() == sorted(last)
    assert series.closes.tolist() == [last[t] for t in sorted(last)]


@pytest.mark.parametrize("times, closes", [([], []), ([0.0, 3600000.0], [10, 11])])
def test_the_series_holds_int64_times_and_float64_closes(times: list[float],
                                                        closes: list[int]) -> None:
    series = CloseSeries.of(times, closes, 3600)
    assert series.open_times_ms.dtype == np.int64
    assert series.closes.dtype == np.float64


def test_no_candle_yet_is_minus_one() -> None:
    series = CloseSeries.of([H, 2 * H], [10.0, 11.0], 3600)
    marks = marks_at(series, [0, 2 * H - 1, 2 * H])
    assert marks.candle_open_ms.tolist() == [-1, -1, H]
    assert marks.stale.tolist() == [True, True, False]
    assert mark_at(series, 0).candle_open_ms == -1
