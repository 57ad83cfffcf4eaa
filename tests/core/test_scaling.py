"""Volatility scaling and cross-sectional momentum (issue [S] candidates): values at the edges."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trader247.core.scaling import (
    in_top,
    momentum_ranks,
    scaled_band,
    stake_scale,
    volatility_pct,
)

REF = 0.66


def test_volatility_is_the_trailing_std_of_percent_returns_nan_until_full() -> None:
    close = pd.Series([100.0, 101.0, 99.0, 102.0, 100.0, 103.0])
    vol = volatility_pct(close, 1.0, 4.0)
    assert vol.iloc[:4].isna().all()  # 4 returns need 5 closes
    returns = close.pct_change().to_numpy() * 100
    assert vol.iat[4] == pytest.approx(np.std(returns[1:5], ddof=1))
    assert vol.iat[5] == pytest.approx(np.std(returns[2:6], ddof=1))


def test_volatility_of_4h_candles_is_per_square_root_hour() -> None:
    close = pd.Series([100.0, 102.0, 99.0, 101.0])
    per_candle = np.std(close.pct_change().to_numpy()[1:3] * 100, ddof=1)
    assert volatility_pct(close, 0.25, 8.0).iat[2] == pytest.approx(per_candle / 2)


@pytest.mark.parametrize("vol, band", [(REF, 4.0), (2 * REF, 8.0), (REF / 2, 2.0)])
def test_band_is_the_fixed_band_at_the_reference_volatility(vol: float, band: float) -> None:
    assert scaled_band(4.0, pd.Series([vol]), REF).iat[0] == pytest.approx(band)


def test_band_of_unknown_volatility_is_unknown_and_reference_must_be_positive() -> None:
    assert math.isnan(scaled_band(4.0, pd.Series([np.nan]), REF).iat[0])
    with pytest.raises(ValueError, match="reference volatility must be > 0"):
        scaled_band(4.0, pd.Series([1.0]), 0.0)


@pytest.mark.parametrize("vol, scale", [
    (REF / 2, 1.0),          # calmer than the reference: never above the tier stake
    (REF, 1.0),              # at the reference: the tier stake
    (REF * 1.0001, 1 / 1.0001),  # one tick over: less
    (2 * REF, 0.5),
    (4 * REF, 0.25),         # at the floor (min_scale 0.25)
    (4.0001 * REF, 0.25),    # one tick over the floor: clamped
    (3.9999 * REF, 1 / 3.9999),
    (0.0, 0.25), (float("nan"), 0.25), (float("inf"), 0.25),  # unknown risk: the smallest
])
def test_stake_scale_between_the_floor_and_the_tier_stake(vol: float, scale: float) -> None:
    assert stake_scale(vol, REF, 0.25) == pytest.approx(scale)


@pytest.mark.parametrize("ref, floor", [(0.0, 0.25), (REF, 0.0), (REF, 1.01)])
def test_stake_scale_refuses_bad_constants(ref: float, floor: float) -> None:
    with pytest.raises(ValueError, match="stake_scale"):
        stake_scale(1.0, ref, floor)


def test_ranks_strongest_first_ties_share_the_better_rank_unknown_stays_unknown() -> None:
    momenta = pd.DataFrame({"A": [5.0, 1.0], "B": [3.0, 1.0], "C": [np.nan, 0.5],
                            "D": [4.0, -2.0]})
    ranks = momentum_ranks(momenta)
    assert ranks.iloc[0].tolist()[:2] == [1.0, 3.0] and math.isnan(ranks.iat[0, 2])
    assert ranks.iloc[1].tolist() == [1.0, 1.0, 3.0, 4.0]


@pytest.mark.parametrize("rank, top_n, inside", [
    (2.0, 2, True), (3.0, 2, False), (1.0, 1, True), (np.nan, 2, False)])
def test_in_top_at_the_edge(rank: float, top_n: int, inside: bool) -> None:
    assert bool(in_top(pd.Series([rank]), top_n).iat[0]) is inside
