"""The one mark definition: close of the newest candle closed at t, no look-ahead, gaps flagged."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trader247.core.marks import CloseSeries, mark_at, marks_at

H = 3_600_000  # one hour in ms
HOURLY = CloseSeries.of([0, H, 2 * H, 3 * H], [10.0, 11.0, 12.0, 13.0], 3600)


@pytest.mark.parametrize(
    ("t", "price", "stale"),
    [
        (0, math.nan, True),            # the first candle is still open: nothing closed yet
        (H - 1, math.nan, True),        # one ms before the first close
        (H, 10.0, False),               # the 00:00 candle closed at 01:00
        (2 * H - 1, 10.0, False),       # the 01:00 candle closes one ms later: not yet
        (2 * H, 11.0, False),           # exactly at a boundary: the candle that just closed
        (2 * H + H // 2, 11.0, False),  # mid-candle (live times): the last closed one
        (4 * H, 13.0, False),           # the last candle closed at 04:00
        (5 * H - 1, 13.0, False),
        (5 * H, 13.0, True),            # 04:00 candle missing (delisted): older close, flagged
        (50 * H, 13.0, True),
    ],
)
def test_mark_is_the_newest_close_at_t(t: int, price: float, stale: bool) -> None:
    mark = mark_at(HOURLY, t)
    assert (math.isnan(mark.price) and math.isnan(price)) or mark.price == price
    assert mark.stale is stale


def test_a_gap_falls_back_to_the_last_close_and_is_flagged() -> None:
    gappy = CloseSeries.of([0, H, 3 * H], [10.0, 11.0, 13.0], 3600)  # 02:00 missing
    marks = marks_at(gappy, [2 * H, 3 * H, 4 * H])
    assert marks.prices.tolist() == [11.0, 11.0, 13.0]
    assert marks.stale.tolist() == [False, True, False]
    assert marks.candle_open_ms.tolist() == [H, H, 3 * H]


def test_vector_and_scalar_agree_and_never_look_ahead() -> None:
    rng = np.random.default_rng(7)
    opens = np.cumsum(rng.integers(1, 3, 200)) * H  # random gaps
    series = CloseSeries.of(opens, rng.uniform(1, 100, 200), 3600)
    times = np.arange(0, int(opens[-1]) + 3 * H, H // 4)
    marks = marks_at(series, times)
    for i, t in enumerate(times):
        one = mark_at(series, int(t))
        assert one.stale == marks.stale[i]
        assert (math.isnan(one.price) and math.isnan(marks.prices[i])) or \
            one.price == marks.prices[i]
        if one.candle_open_ms >= 0:
            assert one.candle_open_ms + H <= t  # the candle used had closed


def test_bad_rows_are_dropped_and_unsorted_input_sorted() -> None:
    series = CloseSeries.of([2 * H, 0, H, H, 3 * H], [12.0, 10.0, 99.0, 11.0, math.nan], 3600)
    assert series.open_times_ms.tolist() == [0, H, 2 * H]
    assert series.closes.tolist() == [10.0, 11.0, 12.0]  # the later duplicate row wins
    assert mark_at(series, 4 * H).price == 12.0 and mark_at(series, 4 * H).stale


@pytest.mark.parametrize("timeframe", [0, -60])
def test_timeframe_must_be_positive(timeframe: int) -> None:
    with pytest.raises(ValueError, match="timeframe_seconds"):
        CloseSeries.of([0], [1.0], timeframe)


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        CloseSeries.of([0, H], [1.0], 3600)
