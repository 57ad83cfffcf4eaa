"""The trend filter of Trader247Strategy and its guards against whipsaw.

Pure pandas/numpy over plain frames. Lookbacks in hours, converted with the frame's candles per
hour; trailing windows only (no look-ahead) and windowed means, so values do not depend on where
the data start (freqtrade's ``recursive-analysis``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

from trader247.core.scaling import MOMENTUM_RANK, VOLATILITY, in_top, scaled_band
from trader247.core.signals import (
    Regime,
    SignalParams,
    _roc_pct,
    _rolling,
    _rolling_max,
    add_entries,
)

if TYPE_CHECKING:
    from trader247.core.config.policy import StrategyConfig

__all__ = [
    "MARKET_UP",
    "TrendParams",
    "add_trend_entries",
    "market_column",
    "market_up",
    "trend_column",
    "trend_indicators",
    "trend_lost",
    "trend_params",
]


@dataclass(frozen=True)
class TrendParams:
    """Long-only trend filter on the pair's own candles (the walk-forward's out-of-sample choice).

    In trend: close above the ``ma_hours`` trailing mean by more than ``band_pct`` and a
    ``momentum_hours`` return of at least ``min_momentum_pct``. Out of trend (exit): close below
    the mean by more than ``exit_band_pct``; a band on both sides keeps a price sitting on the
    mean from trading in and out (fees). ``triggers_required``: enter only when the five
    triggers' conviction agrees too; otherwise the trend alone enters (tag ``trend``).

    Whipsaw guards: ``market_filter`` enters only while the market (BTC) closes
    above its own ``ma_hours`` mean (column ``market_up``); ``cooldown_hours`` > 0 enters only
    when the close has not been below the exit band during the last ``cooldown_hours`` (no
    buying back the breakout just sold). ``band_exit`` False: no ``trend_lost`` exit at all (the
    strategy's trailing stop from the high exits instead).
    Scaling (``trader247.core.scaling``): ``band_reference_pct`` > 0 scales both bands by the
    pair's volatility (column ``trend_volatility_pct``) / this reference; ``top_n`` > 0 enters
    only pairs ranked in the whitelist's top ``top_n`` by trailing return (column
    ``momentum_rank``).
    No defaults here: the strategy's hyperopt parameters and ``policy.yaml`` ``strategy:``
    (``trader247.core.config.StrategyConfig``) carry them.
    """

    ma_hours: float
    band_pct: float
    min_momentum_pct: float
    momentum_hours: float
    triggers_required: bool
    exit_band_pct: float
    market_filter: bool
    cooldown_hours: float
    band_exit: bool
    band_reference_pct: float
    top_n: int

    def __post_init__(self) -> None:
        if not (self.ma_hours > 0 and self.momentum_hours > 0):
            raise ValueError(f"TrendParams: ma_hours and momentum_hours must be > 0 "
                             f"(got {self.ma_hours!r}, {self.momentum_hours!r})")
        for name in ("band_pct", "exit_band_pct"):
            if not 0 <= getattr(self, name) < 100:
                raise ValueError(f"TrendParams.{name} must be in [0, 100) "
                                 f"(got {getattr(self, name)!r})")
        if not (self.band_reference_pct >= 0 and self.top_n >= 0):
            raise ValueError(f"TrendParams: band_reference_pct and top_n must be >= 0 "
                             f"(got {self.band_reference_pct!r}, {self.top_n!r})")
        if not self.cooldown_hours >= 0:
            raise ValueError(f"TrendParams.cooldown_hours must be >= 0 "
                             f"(got {self.cooldown_hours!r})")


def trend_params(guards: StrategyConfig, *, ma_hours: float, band_pct: float,
                 min_momentum_pct: float, momentum_hours: float, triggers_required: bool
                 ) -> TrendParams:
    """The strategy's hyperopt values with ``policy.yaml`` ``strategy:`` (``guards``)."""
    return TrendParams(
        ma_hours=ma_hours, band_pct=band_pct, min_momentum_pct=min_momentum_pct,
        momentum_hours=momentum_hours, triggers_required=triggers_required,
        exit_band_pct=band_pct * guards.exit_band_scale, market_filter=guards.market_filter,
        cooldown_hours=guards.reentry_cooldown_hours, band_exit=guards.exit == "band",
        band_reference_pct=(guards.reference_volatility_pct if guards.band == "volatility"
                            else 0.0), top_n=guards.momentum_top_n)


MARKET_UP: Final = "market_up"
"""Column: 1.0 while the market pair closes above its own trend mean, 0.0 below, NaN unknown."""


def trend_column(ma_hours: float) -> str:
    return f"trend_ma_{ma_hours:g}h"


def trend_indicators(close: pd.Series, candles_per_hour: float, ma_hours: tuple[float, ...],
                     momentum_hours: float) -> pd.DataFrame:
    """Trailing means (one column per length in ``ma_hours``) and the momentum in percent.

    Windowed means (:func:`_rolling`), so values do not depend on where the data starts.
    """
    params = SignalParams(candles_per_hour=candles_per_hour)
    price = close.astype("float64")
    out = {trend_column(h): _rolling(price, params.candles(h), "mean") for h in ma_hours}
    out["trend_momentum"] = _roc_pct(price, params.candles(momentum_hours))
    return pd.DataFrame(out, index=close.index)


def market_up(close: pd.Series, candles_per_hour: float, ma_hours: tuple[float, ...]
              ) -> pd.DataFrame:
    """Per length in ``ma_hours``: 1.0 where ``close`` is above its trailing mean, 0.0 at or
    below, NaN while the window fills (column ``market_up_<h>h``)."""
    means = trend_indicators(close, candles_per_hour, ma_hours, 1.0)
    price = close.astype("float64").to_numpy()
    out = {}
    for h in ma_hours:
        ma = means[trend_column(h)].to_numpy()
        out[market_column(h)] = np.where(np.isnan(ma), np.nan, (price > ma).astype("float64"))
    return pd.DataFrame(out, index=close.index)


def market_column(ma_hours: float) -> str:
    return f"{MARKET_UP}_{ma_hours:g}h"


def add_trend_entries(df: pd.DataFrame, params: SignalParams, trend: TrendParams) -> pd.DataFrame:
    """:func:`add_entries` gated (or replaced, ``triggers_required=False``) by the trend filter.

    ``df`` needs the :func:`trend_indicators` columns for ``trend.ma_hours`` and a ``regime``;
    the :func:`market_up` column when ``market_filter``; the :func:`add_indicators` columns
    only when ``triggers_required``. Crash / unknown regime, ineligible pairs and zero-volume
    candles never enter, as in :func:`add_entries`. ``params.candles_per_hour`` converts
    ``cooldown_hours`` to candles of ``df``.
    """
    out = add_entries(df, params) if trend.triggers_required else df.copy()
    ma = out[trend_column(trend.ma_hours)]
    in_trend = (out["close"] > ma * (1 + _band(out, trend, trend.band_pct) / 100.0)) & (
        out["trend_momentum"] >= trend.min_momentum_pct)
    if trend.top_n > 0:
        in_trend &= in_top(out[MOMENTUM_RANK], trend.top_n)
    if trend.market_filter:
        in_trend &= out[market_column(trend.ma_hours)].fillna(0.0) > 0
    if trend.cooldown_hours > 0:
        lost = _below_exit_band(out, trend).to_numpy(dtype="float64")
        window = params.candles(trend.cooldown_hours)
        recent = _rolling_max(pd.Series(lost, index=out.index), window).fillna(0.0)
        in_trend &= recent < 1.0
    if trend.triggers_required:
        enter = (out["enter_long"] == 1) & in_trend
        tags = out["enter_tag"]
    else:
        labels = out["regime"].astype(object).fillna(Regime.UNKNOWN.value)
        enter = in_trend & ~labels.isin([Regime.CRASH.value, Regime.UNKNOWN.value])
        enter &= out["volume"].fillna(0.0) > 0
        if "eligible" in out.columns:
            enter &= out["eligible"].fillna(False).astype(bool)
        tags = pd.Series("trend", index=out.index, dtype=object)
    out["enter_long"] = enter.astype("int64")
    out["enter_tag"] = tags.where(enter, None)
    out["trend_ma"] = ma  # the strategy's plotted mean
    return out


def _band(df: pd.DataFrame, trend: TrendParams, band_pct: float) -> float | pd.Series:
    """``band_pct``, or per candle scaled by the pair's volatility."""
    if trend.band_reference_pct > 0:
        return scaled_band(band_pct, df[VOLATILITY], trend.band_reference_pct)
    return band_pct


def _below_exit_band(df: pd.DataFrame, trend: TrendParams) -> pd.Series:
    ma = df[trend_column(trend.ma_hours)]
    below: pd.Series = df["close"] < ma * (1 - _band(df, trend, trend.exit_band_pct) / 100.0)
    return below


def trend_lost(df: pd.DataFrame, trend: TrendParams) -> pd.Series:
    """Close below the trend mean by more than the exit band (NaN mean: not lost); never with
    ``band_exit`` off."""
    if not trend.band_exit:
        return pd.Series(False, index=df.index)
    return _below_exit_band(df, trend)
