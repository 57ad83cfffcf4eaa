"""Feed loading and the real-time <-> data-time mapping (walk start, speed, loop)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.replay.conftest import T0, FakeClock, make_dataset
from trader247.replay.api import ReplayExchange
from trader247.replay.feed import DAY, FeedError, aggregate, load_feed

H = 3600


def frame_row(df: pd.DataFrame, when: float) -> pd.Series:
    rows = df[df["date"] == pd.Timestamp(when, unit="s", tz="UTC")]
    assert len(rows) == 1, f"no data row at {when}"
    return rows.iloc[0]


def test_load_feed_reads_feather_and_json_and_derives_granularities(
    dataset: dict[str, Any],
) -> None:
    feed = load_feed(dataset["dir"])
    assert set(feed.pairs) == {"BTC-USD", "ETH-USD", "ADA-USD", "ETH-BTC"}
    btc = feed.pairs["BTC-USD"]
    assert btc.file_timeframes == {900, H}
    assert set(btc.series) == {900, 1800, H, 7200, 14400, 21600, DAY}
    assert btc.series[7200].source.startswith("BTC_USD-1h.feather")  # coarsest, same coverage
    ada = feed.pairs["ADA-USD"].series[H]  # read from the .json file
    ada_df = dataset["frames"][("ADA/USD", "1h")]
    assert ada.source == "ADA_USD-1h.json" and len(ada) == len(ada_df)
    assert ada.ts[-1] == int(ada_df["date"].iloc[-1].timestamp())
    np.testing.assert_allclose(ada.close, ada_df["close"].to_numpy())
    # ETH has only 1h: nothing finer is invented
    assert min(feed.pairs["ETH-USD"].series) == H


def test_aggregation_matches_pandas_resample(dataset: dict[str, Any]) -> None:
    feed = load_feed(dataset["dir"])
    two_hours = feed.pairs["ETH-USD"].series[7200]
    df = dataset["frames"][("ETH/USD", "1h")]
    expected = df.resample("2h", on="date").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    assert len(two_hours) == len(expected)
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(getattr(two_hours, column), expected[column].to_numpy())
    assert aggregate(two_hours, 7200).ts.tolist() == two_hours.ts.tolist()


def test_load_feed_errors_name_the_directory_or_file(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match=f"data directory {tmp_path / 'nope'} does not exist"):
        load_feed(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not candles")
    with pytest.raises(FeedError, match="holds no OHLCV files"):
        load_feed(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "BTC_USD-1h.feather").write_bytes(b"garbage, not arrow")
    with pytest.raises(FeedError, match=r"cannot read data file .*BTC_USD-1h\.feather"):
        load_feed(bad)
    (bad / "BTC_USD-1h.feather").unlink()
    (bad / "ETH_USD-1h.json").write_text('{"not": "rows"}')
    with pytest.raises(FeedError, match=r"ETH_USD-1h\.json: expected a JSON list"):
        load_feed(bad)
    with pytest.raises(FeedError, match="unknown timeframe"):
        load_feed(bad, ["7m"])


def test_walk_start_leaves_history_and_aligns_whole_days(
    make_exchange: Callable[..., ReplayExchange], dataset: dict[str, Any],
) -> None:
    exchange = make_exchange()
    clock = exchange.clock
    first_1h = dataset["frames"][("BTC/USD", "1h")]["date"].iloc[0].timestamp()
    assert (clock.t0 - clock.start) % DAY == 0
    assert (clock.start - first_1h) / H >= 1000  # >= 1000 candles behind the walk start
    assert clock.start - DAY < exchange.market.feed.history_start(1000) <= clock.start
    # the loop runs between data midnights after the walk start
    assert clock.start <= clock.loop_start < clock.end <= exchange.market.feed.end
    assert clock.loop_start % DAY == 0 and clock.end % DAY == 0


def test_current_real_candle_shows_the_walk_position(
    make_exchange: Callable[..., ReplayExchange], dataset: dict[str, Any],
) -> None:
    exchange = make_exchange()
    out = exchange.market.candles("BTC-USD", H, T0 - 10 * H, T0, T0)
    current = T0 - T0 % H
    assert [c.start for c in out] == [current - k * H for k in range(len(out))]
    assert len(out) == 10  # newest first, starts in [T0 - 10 h, T0], the newest in progress
    # the previous (completed) real candle is the data row before the walk position, exactly
    v_prev = exchange.clock.start - exchange.clock.start % H - H
    row = frame_row(dataset["frames"][("BTC/USD", "1h")], v_prev)
    done = out[1]
    assert (done.open, done.high, done.low, done.close, done.volume) == pytest.approx(
        (row.open, row.high, row.low, row.close, row.volume))
    # timeframes agree at speed 1: the 1h candle equals its four 15m candles
    quarter = exchange.market.candles("BTC-USD", 900, out[1].start, out[1].start + 2700, T0)
    assert quarter[-1].open == pytest.approx(done.open)
    assert quarter[0].close == pytest.approx(done.close)
    assert sum(c.volume for c in quarter) == pytest.approx(done.volume)


def test_in_progress_candle_interpolates_the_finer_candle(
    make_exchange: Callable[..., ReplayExchange], dataset: dict[str, Any],
) -> None:
    exchange = make_exchange()
    vt = exchange.clock.virtual(T0)  # hh:30:00.25 in data time
    hour = vt - vt % H
    df15 = dataset["frames"][("BTC/USD", "15m")]
    r0, r1, r2 = (frame_row(df15, hour + k * 900) for k in range(3))
    frac = (vt - (hour + 1800)) / 900
    price = r2.open + (r2.close - r2.open) * frac
    live = exchange.market.candles("BTC-USD", H, T0 - T0 % H, T0, T0)[0]
    assert live.start == T0 - T0 % H
    assert live.open == pytest.approx(r0.open)
    assert live.close == pytest.approx(price)
    assert live.high == pytest.approx(max(r0.high, r1.high, r2.open, price))
    assert live.low == pytest.approx(min(r0.low, r1.low, r2.open, price))
    assert live.volume == pytest.approx(r0.volume + r1.volume + r2.volume * frac)
    assert exchange.market.price("BTC-USD", T0) == pytest.approx(price)
    # ETH has only 1h candles: interpolated inside the hour
    eth = frame_row(dataset["frames"][("ETH/USD", "1h")], hour)
    eth_frac = (vt - hour) / H
    assert exchange.market.price("ETH-USD", T0) == pytest.approx(
        eth.open + (eth.close - eth.open) * eth_frac)


def test_speed_walks_faster_while_timestamps_stay_on_the_real_clock(
    make_exchange: Callable[..., ReplayExchange], dataset: dict[str, Any], clock: FakeClock,
) -> None:
    exchange = make_exchange(speed=60)
    df = dataset["frames"][("BTC/USD", "1h")]
    start_hour = exchange.clock.start - exchange.clock.start % H
    clock.advance(60)  # one real minute = one data hour
    assert exchange.clock.virtual(clock()) == pytest.approx(exchange.clock.start + H)
    out = exchange.market.candles("BTC-USD", H, clock() - 5 * H, clock(), clock())
    assert out[0].start == clock() - clock() % H  # still the real hour
    row = frame_row(df, start_hour)  # the row that was in progress is now completed
    assert (out[1].open, out[1].close) == pytest.approx((row.open, row.close))
    clock.advance(60 * 24)
    assert exchange.clock.virtual(clock()) == pytest.approx(exchange.clock.start + 25 * H)


def test_walk_loops_with_continuous_prices(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "short", hours=24 * 4)
    clock = FakeClock()
    exchange = ReplayExchange(load_feed(data["dir"]), clock=clock, start_offset_candles=24)
    rc = exchange.clock
    assert rc.span >= DAY and rc.lap(rc.virtual(clock())) == 0
    # jump to 3 h after the loop point and look back across it
    clock.advance(rc.end - rc.start + 3 * H)
    assert rc.lap(rc.virtual(clock())) == 1
    for product_id in ("ETH-USD", "BTC-USD"):
        out = exchange.market.candles(product_id, H, clock() - 12 * H, clock(), clock())
        assert len(out) >= 12
        ordered = out[::-1]
        for before, after in zip(ordered, ordered[1:], strict=False):
            # synthetic data has open == previous close; the lap scaling keeps that true
            assert after.open == pytest.approx(before.close, rel=1e-9)
            assert after.start - before.start == H
    state = exchange.state()
    assert state["lap"] == 1 and state["pairs"]
    # a later lap keeps compounding the continuity factor, never a gap
    clock.advance(5 * rc.span)
    out = exchange.market.candles("ETH-USD", H, clock() - 6 * H, clock(), clock())
    assert len(out) >= 6 and exchange.market.price("ETH-USD", clock()) is not None


def test_huge_offset_starts_the_walk_in_the_last_whole_day_of_data(
    make_exchange: Callable[..., ReplayExchange],
) -> None:
    exchange = make_exchange(start_offset_candles=10**7)
    vt = exchange.clock.virtual(T0)
    end = exchange.market.feed.end
    # whole-day alignment and a full day left to loop over bound how close to the end it gets
    assert end - 2 * DAY < vt <= end - DAY
    assert exchange.clock.span == DAY
