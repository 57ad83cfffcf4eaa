"""``adapters.cap_freshness``: the stale-candle guard's boundaries on freqtrade's timeframe
arithmetic and the line the operator reads when it refuses."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from freqtrade.exchange import timeframe_to_seconds

from trader247.adapters.cap_freshness import CandleFreshness

# 10:30: the 09:00 candle is the newest one closed (10:00 is in progress).
NOW = datetime(2025, 6, 1, 10, 30, tzinfo=UTC)


def analysed(newest: datetime, timeframe: str = "1h") -> pd.DataFrame:
    step = pd.Timedelta(seconds=timeframe_to_seconds(timeframe))
    return pd.DataFrame({"date": pd.date_range(end=newest, periods=3, freq=step),
                         "close": [1.0, 1.0, 1.0]})


def guard(frames: dict[str, pd.DataFrame], timeframe: str = "1h",
          allowed: int = 1) -> CandleFreshness:
    return CandleFreshness(lambda pair: (frames[pair], NOW), timeframe, allowed)


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize(("timeframe", "newest", "allowed"), [
    ("1h", datetime(2025, 6, 1, 10, tzinfo=UTC), True),  # the candle in progress: fresh
    ("1h", datetime(2025, 6, 1, 9, tzinfo=UTC), True),   # the newest closed candle
    ("1h", datetime(2025, 6, 1, 8, tzinfo=UTC), True),   # one missing: allowed
    ("1h", datetime(2025, 6, 1, 7, tzinfo=UTC), False),  # two missing: refused
    ("5m", datetime(2025, 6, 1, 10, 20, tzinfo=UTC), True),
    ("5m", datetime(2025, 6, 1, 10, 15, tzinfo=UTC), False),
    ("1d", datetime(2025, 5, 30, tzinfo=UTC), True),     # 31 May closed, 30 May one behind
    ("1d", datetime(2025, 5, 29, tzinfo=UTC), False),
    # freqtrade's smallest timeframe: the newest closed candle opened one second before now
    ("1s", datetime(2025, 6, 1, 10, 29, 58, tzinfo=UTC), True),
    ("1s", datetime(2025, 6, 1, 10, 29, 57, tzinfo=UTC), False),
])
def test_one_missing_candle_is_allowed_two_are_not(
        timeframe: str, newest: datetime, allowed: bool) -> None:
    check = guard({"ETH/USD": analysed(newest, timeframe)}, timeframe)
    assert check.allows("ETH/USD", NOW) is allowed


def test_a_refusal_names_the_pair_both_candles_and_the_count_once_per_newest_candle(
        caplog: pytest.LogCaptureFixture) -> None:
    frames = {"ETH/USD": analysed(datetime(2025, 6, 1, 6, tzinfo=UTC)),
              "BTC/USD": analysed(datetime(2025, 6, 1, 9, tzinfo=UTC))}
    check = guard(frames)
    for _ in range(3):  # every iteration: refused, told once
        assert check.allows("ETH/USD", NOW) is False
        assert check.allows("BTC/USD", NOW) is True
    assert refusals(caplog) == [
        "ENTRY_REFUSED stale_candles: ETH/USD newest candle 2025-06-01T06:00:00+00:00, expected "
        "2025-06-01T09:00:00+00:00 (3 missing, allowed 1)"]
    frames["ETH/USD"] = analysed(datetime(2025, 6, 1, 7, tzinfo=UTC))  # one step, still behind
    assert check.allows("ETH/USD", NOW + timedelta(minutes=5)) is False
    assert refusals(caplog)[1:] == [
        "ENTRY_REFUSED stale_candles: ETH/USD newest candle 2025-06-01T07:00:00+00:00, expected "
        "2025-06-01T09:00:00+00:00 (2 missing, allowed 1)"]


def test_a_pair_without_analysed_candles_cannot_carry_a_signal_and_passes() -> None:
    check = guard({"NEW/USD": pd.DataFrame()})
    assert check.allows("NEW/USD", NOW) is True
