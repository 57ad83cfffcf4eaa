"""Backtest series of the universe rules: trailing USD volume and eligibility candle by candle.

The live pairlist decides on today's tickers (``trader247.core.universe.evaluate_universe``); a
backtest has only candles, so the strategy applies the same rules (force, exclusions, floors,
hysteresis) to a trailing USD volume computed from them, without look-ahead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from trader247.core.symbols import to_pair
from trader247.core.universe import UniverseRules, exit_floor

__all__ = ["eligible_series", "rolling_usd_volume"]


def rolling_usd_volume(
    close: ArrayLike,
    volume_base: ArrayLike,
    window_candles: int,
    quote_to_usd: float | ArrayLike = 1.0,
) -> NDArray[np.float64]:
    """Trailing USD volume over ``window_candles`` candles, the current candle included.

    Value ``i`` uses candles ``i - window + 1 .. i`` only (no look-ahead) and is NaN until the
    window is full or when any candle in it has an unusable close/volume/rate. ``volume_base`` is
    in BASE units (freqtrade candles), hence close × volume × quote→USD.
    """
    if (
        isinstance(window_candles, bool)
        or int(window_candles) != window_candles
        or window_candles < 1
    ):
        raise ValueError(f"window_candles must be a positive int, got {window_candles!r}")
    window = int(window_candles)
    c = np.asarray(close, dtype=np.float64)
    v = np.asarray(volume_base, dtype=np.float64)
    if c.ndim != 1 or c.shape != v.shape:
        raise ValueError(
            f"close and volume_base must be 1-D of equal length, got {c.shape} and {v.shape}"
        )
    q = np.broadcast_to(np.asarray(quote_to_usd, dtype=np.float64), c.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        per_candle = c * v * q
        bad = ~np.isfinite(per_candle) | ~(c > 0) | ~(v >= 0) | ~(q > 0)
    per_candle = np.where(bad, np.nan, per_candle)
    out = np.full(c.shape, np.nan, dtype=np.float64)
    if c.size >= window:
        out[window - 1 :] = sliding_window_view(per_candle, window).sum(axis=1)
    return out


def eligible_series(
    pair: str,
    rolling_usd: ArrayLike | Sequence[float],
    rules: UniverseRules,
    *,
    active: bool = True,
    initially_eligible: bool = False,
) -> NDArray[np.bool_]:
    """Candle-by-candle eligibility with the live rules (force, exclusions, floors, hysteresis).

    A NaN volume (window not yet full, data gap) keeps the previous candle's state, as a stale
    refresh does live; ``initially_eligible`` is the state before the first candle.
    """
    cls = rules._classify(to_pair(pair))  # to_pair: a malformed symbol raises here
    values = np.asarray(rolling_usd, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"rolling_usd must be 1-D, got shape {values.shape}")
    n = values.size
    idx = cls.tier_idx
    if not active or cls.static_reason is not None:
        return np.zeros(n, dtype=np.bool_)
    if cls.forced:
        return np.ones(n, dtype=np.bool_)
    floor = rules.global_floor_usd if idx is None else rules.tiers[idx].floor_usd
    with np.errstate(invalid="ignore"):
        enter = values >= floor
        leave = values < exit_floor(floor, rules.exit_band)
    # State = outcome of the most recent enter/leave event; candles with neither hold it.
    positions = np.where(enter | leave, np.arange(n), -1)
    last_event = np.maximum.accumulate(positions) if n else positions
    return np.where(last_event >= 0, enter[np.maximum(last_event, 0)], initially_eligible)
