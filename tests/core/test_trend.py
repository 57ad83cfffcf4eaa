"""Trend filter of Trader247Strategy (issue 13): the band at its edges, exits, gates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trader247.core.scaling import MOMENTUM_RANK, VOLATILITY
from trader247.core.signals import Regime, SignalParams, add_entries, add_indicators
from trader247.core.trend import (
    TrendParams,
    add_trend_entries,
    market_column,
    trend_column,
    trend_indicators,
    trend_lost,
)

P = SignalParams()


def trend(**changes: object) -> TrendParams:
    base = {"ma_hours": 10.0, "band_pct": 5.0, "min_momentum_pct": -8.0, "momentum_hours": 5.0,
            "triggers_required": False, "exit_band_pct": 5.0, "market_filter": False,
            "cooldown_hours": 0.0, "band_exit": True, "band_reference_pct": 0.0,
            "top_n": 0}
    return TrendParams(**{**base, **changes})  # type: ignore[arg-type]


def frame(close: list[float], regime: str = Regime.BULL.value) -> pd.DataFrame:
    c = np.asarray(close, dtype=float)
    df = pd.DataFrame({"date": pd.date_range("2025-01-01", periods=c.size, freq="1h", tz="UTC"),
                       "open": c, "high": c, "low": c, "close": c, "volume": 100.0})
    df["regime"] = regime
    df = add_indicators(df, P)
    return df.join(trend_indicators(df["close"], 1.0, (10.0,), 5.0))


def test_mean_is_windowed_and_nan_until_full() -> None:
    columns = trend_indicators(pd.Series(np.arange(1.0, 13.0)), 1.0, (10.0,), 5.0)
    ma = columns[trend_column(10.0)]
    assert ma.iloc[:9].isna().all()
    assert ma.iat[9] == pytest.approx(5.5) and ma.iat[11] == pytest.approx(7.5)
    assert columns["trend_momentum"].iat[11] == pytest.approx((12 / 7 - 1) * 100)


@pytest.mark.parametrize("last, enters", [(105.0, False), (105.0001, True)])
def test_entry_needs_a_close_above_the_band(last: float, enters: bool) -> None:
    # Mean pinned at 100, band 5 %: the edge is 105 (strictly above enters).
    df = frame([100.0] * 30 + [last])
    df[trend_column(10.0)] = 100.0
    out = add_trend_entries(df, P, trend())
    assert out["enter_long"].iat[-1] == int(enters)
    assert out["enter_tag"].iat[-1] == ("trend" if enters else None)


@pytest.mark.parametrize("momentum, enters", [(-8.0, True), (-8.01, False)])
def test_momentum_floor_is_inclusive(momentum: float, enters: bool) -> None:
    df = frame([100.0] * 30 + [110.0])
    df[trend_column(10.0)] = 100.0
    df["trend_momentum"] = momentum
    assert add_trend_entries(df, P, trend())["enter_long"].iat[-1] == int(enters)


@pytest.mark.parametrize("regime", [Regime.CRASH.value, Regime.UNKNOWN.value])
def test_crash_and_unknown_regime_block_trend_entries(regime: str) -> None:
    df = frame([100.0] * 30 + [110.0], regime=regime)
    df[trend_column(10.0)] = 100.0
    assert add_trend_entries(df, P, trend())["enter_long"].sum() == 0


def test_ineligible_and_zero_volume_candles_never_enter() -> None:
    df = frame([100.0] * 30 + [110.0, 110.0])
    df[trend_column(10.0)] = 100.0
    df["eligible"] = True
    df.loc[df.index[-1], "eligible"] = False
    df.loc[df.index[-2], "volume"] = 0.0
    assert list(add_trend_entries(df, P, trend())["enter_long"].iloc[-2:]) == [0, 0]


def test_triggers_required_needs_the_conviction_too() -> None:
    df = frame([100.0] * 30 + [110.0])
    df[trend_column(10.0)] = 100.0
    alone = add_trend_entries(df, P, trend())
    assert alone["enter_long"].iat[-1] == 1
    assert "conviction" not in alone.columns  # the triggers are not consulted at all
    triggers = add_entries(df, P)["enter_long"]
    confirmed = add_trend_entries(df, P, trend(triggers_required=True))["enter_long"]
    assert confirmed.iat[-1] == triggers.iat[-1]
    strict = add_trend_entries(df, P.with_changes(conviction_threshold=1.0),
                               trend(triggers_required=True))
    assert strict["enter_long"].iat[-1] == 0  # in trend, but the triggers disagree


@pytest.mark.parametrize("last, lost", [(95.0, False), (94.9999, True)])
def test_trend_lost_below_the_band(last: float, lost: bool) -> None:
    df = frame([100.0] * 30 + [last])
    df[trend_column(10.0)] = 100.0
    assert bool(trend_lost(df, trend()).iat[-1]) is lost


def test_band_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="band_pct"):
        trend(band_pct=-1.0)


@pytest.mark.parametrize("market, enters", [(1.0, True), (0.0, False), (np.nan, False)])
def test_market_filter_enters_only_while_the_market_is_up(market: float, enters: bool) -> None:
    df = frame([100.0] * 30 + [110.0])
    df[trend_column(10.0)] = 100.0
    df[market_column(10.0)] = market
    out = add_trend_entries(df, P, trend(market_filter=True))
    assert out["enter_long"].iat[-1] == int(enters)
    assert add_trend_entries(df, P, trend())["enter_long"].iat[-1] == 1  # filter off: enters


@pytest.mark.parametrize("hours_since_lost, enters", [(4, False), (5, True)])
def test_cooldown_blocks_the_buy_back_of_a_breakout_just_sold(hours_since_lost: int,
                                                               enters: bool) -> None:
    # Below the exit band (94 < 95) ``hours_since_lost`` candles before the last one, which is
    # above the entry band; the cooldown is 5 h (the lost candle and the 4 after it).
    close = [100.0] * 30 + [94.0] + [100.0] * (hours_since_lost - 1) + [110.0]
    df = frame(close)
    df[trend_column(10.0)] = 100.0
    out = add_trend_entries(df, P, trend(cooldown_hours=5.0))
    assert out["enter_long"].iat[-1] == int(enters)


@pytest.mark.parametrize("last, lost", [(92.0, False), (91.9999, True)])
def test_exit_band_may_be_wider_than_the_entry_band(last: float, lost: bool) -> None:
    df = frame([100.0] * 30 + [last])
    df[trend_column(10.0)] = 100.0
    assert bool(trend_lost(df, trend(exit_band_pct=8.0)).iat[-1]) is lost


def test_without_band_exit_the_trend_is_never_lost() -> None:
    df = frame([100.0] * 30 + [50.0])
    df[trend_column(10.0)] = 100.0
    assert not trend_lost(df, trend(band_exit=False)).any()


@pytest.mark.parametrize("field, value", [("exit_band_pct", 100.0), ("cooldown_hours", -1.0)])
def test_guard_values_out_of_range_are_refused(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        trend(**{field: value})


@pytest.mark.parametrize("last, enters", [(110.0, False), (110.0001, True)])
def test_volatility_band_is_scaled_by_the_pairs_volatility(last: float, enters: bool) -> None:
    # Band 5 % at the reference 0.5; the pair moves twice as much: the edge is 110, not 105.
    df = frame([100.0] * 30 + [last])
    df[trend_column(10.0)] = 100.0
    df[VOLATILITY] = 1.0
    out = add_trend_entries(df, P, trend(band_reference_pct=0.5))
    assert out["enter_long"].iat[-1] == int(enters)


@pytest.mark.parametrize("last, lost", [(90.0, False), (89.9999, True)])
def test_volatility_scaled_exit_band(last: float, lost: bool) -> None:
    df = frame([100.0] * 30 + [last])
    df[trend_column(10.0)] = 100.0
    df[VOLATILITY] = 1.0
    assert bool(trend_lost(df, trend(band_reference_pct=0.5)).iat[-1]) is lost


def test_unknown_volatility_neither_enters_nor_exits() -> None:
    df = frame([100.0] * 30 + [200.0])
    df[trend_column(10.0)] = 100.0
    df[VOLATILITY] = np.nan
    assert add_trend_entries(df, P, trend(band_reference_pct=0.5))["enter_long"].iat[-1] == 0
    df["close"] = 1.0
    assert not trend_lost(df, trend(band_reference_pct=0.5)).iat[-1]


@pytest.mark.parametrize("rank, enters", [(2.0, True), (3.0, False), (np.nan, False)])
def test_momentum_top_n_gates_entries_at_the_edge(rank: float, enters: bool) -> None:
    df = frame([100.0] * 30 + [110.0])
    df[trend_column(10.0)] = 100.0
    df[MOMENTUM_RANK] = rank
    assert add_trend_entries(df, P, trend(top_n=2))["enter_long"].iat[-1] == int(enters)


@pytest.mark.parametrize("field, value", [("band_reference_pct", -0.1), ("top_n", -1)])
def test_scaling_params_must_not_be_negative(field: str, value: float) -> None:
    with pytest.raises(ValueError, match="band_reference_pct and top_n"):
        trend(**{field: value})
