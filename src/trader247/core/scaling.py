"""Volatility scaling and cross-sectional momentum of Trader247Strategy (issue [S] candidates).

Pure numpy/pandas, DataFrames / Series in, columns out. ``policy.yaml`` ``strategy:``
(``trader247.core.config.StrategyConfig``) switches each on and holds every constant; nothing
here has a default.

Decisions:
- A pair's volatility is the sample standard deviation of its close-to-close returns in percent
  over the trailing ``hours``, per square-root hour (a 4 h candle's return spread is halved), so
  it does not depend on the timeframe it is computed on. Windowed (``_rolling``): the value does
  not depend on where the data start (freqtrade's ``recursive-analysis``).
- A volatility-scaled band is ``band_pct x volatility / reference``: at the reference volatility
  it is the fixed band, twice as wide where the pair moves twice as much. Unknown volatility:
  NaN band, so neither an entry nor a band exit (the comparisons are False).
- A volatility-scaled stake is the tier stake x ``reference / volatility``, clamped to
  ``[min_scale, 1]``: never above the tier stake (the cap and ``max_stake`` still clamp after).
  Unknown or zero volatility: ``min_scale`` (not knowing the risk is no reason to take the most).
- Cross-sectional momentum: at each date, rank 1 is the pair with the highest trailing return
  among the pairs with a known one; ties share the better rank; unknown: NaN (never in a top N).
"""

from __future__ import annotations

import math
from typing import Final

import pandas as pd

from trader247.core.signals import SignalParams, _rolling

__all__ = [
    "MOMENTUM_RANK",
    "VOLATILITY",
    "in_top",
    "momentum_ranks",
    "scaled_band",
    "stake_scale",
    "volatility_pct",
]

VOLATILITY: Final = "trend_volatility_pct"
"""Column: the pair's volatility, percent per square-root hour (:func:`volatility_pct`)."""
MOMENTUM_RANK: Final = "momentum_rank"
"""Column: the pair's rank by trailing return among the whitelist (1 = strongest), NaN unknown."""


def volatility_pct(close: pd.Series, candles_per_hour: float, hours: float) -> pd.Series:
    """Trailing standard deviation (ddof 1) of ``close``'s returns in percent over ``hours``,
    scaled to one hour; NaN until the window is full."""
    window = SignalParams(candles_per_hour=candles_per_hour).candles(hours)
    returns = close.astype("float64").pct_change() * 100.0
    spread: pd.Series = _rolling(returns, window, "std") * math.sqrt(candles_per_hour)
    return spread


def scaled_band(band_pct: float, volatility: pd.Series, reference_pct: float) -> pd.Series:
    """The band in percent per candle: ``band_pct`` at ``reference_pct`` volatility."""
    if not reference_pct > 0:
        raise ValueError(f"reference volatility must be > 0 (got {reference_pct!r})")
    band: pd.Series = volatility.astype("float64") * (band_pct / reference_pct)
    return band


def stake_scale(volatility: float, reference_pct: float, min_scale: float) -> float:
    """Fraction of the tier stake for an entry at ``volatility``, in ``[min_scale, 1]``."""
    if not (reference_pct > 0 and 0 < min_scale <= 1):
        raise ValueError(f"stake_scale: reference_pct must be > 0 and min_scale in (0, 1] "
                         f"(got {reference_pct!r}, {min_scale!r})")
    if not (math.isfinite(volatility) and volatility > 0):
        return min_scale
    return min(1.0, max(min_scale, reference_pct / volatility))


def momentum_ranks(momenta: pd.DataFrame) -> pd.DataFrame:
    """One column per pair (``momenta``: trailing returns, dates as index): its rank per date."""
    ranks: pd.DataFrame = momenta.rank(axis=1, ascending=False, method="min", na_option="keep")
    return ranks


def in_top(ranks: pd.Series, top_n: int) -> pd.Series:
    """True where the rank is known and at most ``top_n``."""
    inside: pd.Series = ranks.fillna(math.inf) <= top_n
    return inside
