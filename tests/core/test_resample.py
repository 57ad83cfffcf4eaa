"""Closed-candle resampling of the regime frame (issue 13 item 3): exact and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trader247.core.resample import resample_closed


def five_minute(n: int, start: str = "2025-01-01 00:00") -> pd.DataFrame:
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    opens = np.concatenate([[100.0], close[:-1]])
    return pd.DataFrame({
        "date": pd.date_range(start, periods=n, freq="5min", tz="UTC"),
        "open": opens, "high": np.maximum(opens, close) * 1.001,
        "low": np.minimum(opens, close) * 0.999, "close": close,
        "volume": rng.uniform(1, 10, n)})


def test_hourly_candles_equal_the_aggregate_of_their_twelve_5m_candles() -> None:
    base = five_minute(36)
    hourly = resample_closed(base, 5, 60)
    assert list(hourly["date"]) == list(pd.date_range("2025-01-01", periods=3, freq="1h",
                                                      tz="UTC"))
    second = base.iloc[12:24]
    row = hourly.iloc[1]
    assert row["open"] == second["open"].iat[0]
    assert row["close"] == second["close"].iat[-1]
    assert row["high"] == second["high"].max() and row["low"] == second["low"].min()
    assert row["volume"] == pytest.approx(second["volume"].sum())


@pytest.mark.parametrize("extra, hours", [(11, 2), (12, 3)])
def test_open_hour_is_dropped_until_its_last_5m_candle_is_in(extra: int, hours: int) -> None:
    # 24 + 11 candles: the third hour lacks its 11:55 candle -> not emitted; with it -> emitted.
    assert len(resample_closed(five_minute(24 + extra), 5, 60)) == hours


def test_appending_candles_never_changes_emitted_hours() -> None:
    base = five_minute(120)
    full = resample_closed(base, 5, 60)
    for cut in (30, 61, 95):
        part = resample_closed(base.iloc[:cut], 5, 60)
        pd.testing.assert_frame_equal(part, full.iloc[:len(part)])


def test_frame_starting_mid_hour_drops_the_partial_first_hour() -> None:
    hourly = resample_closed(five_minute(30, start="2025-01-01 00:10"), 5, 60)
    assert hourly["date"].iat[0] == pd.Timestamp("2025-01-01 01:00", tz="UTC")


def test_target_not_a_multiple_of_the_base_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot build 60m candles from 7m"):
        resample_closed(five_minute(10), 7, 60)


def test_closed_index_matches_freqtrades_merge_informative_pair() -> None:
    from freqtrade.strategy import merge_informative_pair

    from trader247.core.resample import closed_index

    base = five_minute(40, start="2025-01-01 00:20")
    hourly = resample_closed(five_minute(60), 5, 60).assign(row=lambda f: range(len(f)))
    merged = merge_informative_pair(base.copy(), hourly[["date", "row"]], "5m", "1h",
                                    ffill=True)
    index = closed_index(base["date"], 5, hourly["date"], 60)
    expected = merged["row_1h"].fillna(-1).astype(int).to_numpy()
    assert list(index) == list(expected)
    # 00:55 closes the 00:00 hour: the first base candle to see it.
    assert index[base["date"].tolist().index(pd.Timestamp("2025-01-01 00:55", tz="UTC"))] == 0
    assert index[base["date"].tolist().index(pd.Timestamp("2025-01-01 00:50", tz="UTC"))] == -1
