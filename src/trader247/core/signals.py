"""Entry signals of the original bot: five triggers, a weighted conviction, a BTC market regime.

Pure: TA-Lib, pandas and numpy over plain OHLCV frames, no freqtrade. The trend filter that
Trader247Strategy trades by default, and its guards, are in :mod:`trader247.core.trend`. The
strategy adapter calls :func:`add_indicators` in ``populate_indicators`` and :func:`add_entries` in
``populate_entry_trend`` (so hyperopt re-runs only the cheap second half); :func:`build_signals`
is both in one call.

Decisions:
- Every lookback is written in HOURS and converted to candles with ``candles_per_hour``, so the
  same parameters mean the same thing at 5m and at 1h (``SignalParams.for_timeframe``).
- Only trailing windows (rolling, shift >= 0): the output for row ``i`` depends on rows ``<= i``
  only, so appending candles never changes earlier rows (no look-ahead).
- Indicators are windowed (simple means, Cutler's RSI) rather than recursive (EMA, Wilder's RSI):
  after its window a value is exact whatever the start-up length, which is what freqtrade's
  ``recursive-analysis`` checks. Strengths are 0 while a window is still filling (no NaN leaks).
- TA-Lib computes what it computes exactly (``ROC``, rolling ``MAX`` / ``MIN``: no running state).
  Means, standard deviations and the RSI are our own (:func:`_rolling`): TA-Lib's ``SMA`` /
  ``STDDEV`` keep running sums, whose last bits depend on where the data starts, and its ``RSI``
  is Wilder's recursive one, so ``recursive-analysis`` would see them vary with the start-up.
- Long only: each strength is in [0, 1] and measures evidence for a rise.
- ``conviction`` is the weighted mean of the strengths, so it stays in [0, 1] whatever the
  weights. With the default weights (trend triggers 2, price_move 1, spike and reversal 0.5) a
  full breakout or momentum alone reaches 0.33: enough in a bull market (0.3), not in chop (0.4).
- ``enter_tag`` is the trigger with the largest weighted strength; the per-trigger exits
  (:data:`EXIT_RULES`) follow it.
- Regime (from BTC, 7-day return and volatility): ``crash`` and ``unknown`` (warm-up) block every
  entry; ``chop`` and ``bear`` raise the conviction threshold by their ``*_threshold_add``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import talib
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "DEFAULT_EXIT",
    "EXIT_RULES",
    "TIMEFRAME_MINUTES",
    "TRIGGERS",
    "ExitRule",
    "Regime",
    "SignalParams",
    "add_entries",
    "add_indicators",
    "build_signals",
    "candles_per_hour",
    "exit_rule",
    "regime",
    "strength_column",
]

TRIGGERS: Final = ("price_move", "volume_spike", "breakout", "reversal", "momentum")
"""Trigger names, also the ``enter_tag`` values; ties for the dominant trigger go to the first."""

TIMEFRAME_MINUTES: Final[Mapping[str, int]] = MappingProxyType({
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30,
    "1h": 60, "2h": 120, "4h": 240, "6h": 360, "8h": 480, "12h": 720, "1d": 1440,
})

_HOURS_PER_YEAR: Final = 24.0 * 365.0
_BLOCK_VALUES: Final = 1 << 20


class Regime(StrEnum):
    BULL = "bull"
    CHOP = "chop"
    BEAR = "bear"
    CRASH = "crash"
    UNKNOWN = "unknown"  # not enough history yet: treated like a crash (no entries)


def strength_column(trigger: str) -> str:
    return f"{trigger}_strength"


def candles_per_hour(timeframe: str) -> float:
    """``"5m"`` -> 12.0, ``"4h"`` -> 0.25; ``ValueError`` for a timeframe we do not support."""
    minutes = TIMEFRAME_MINUTES.get(timeframe)
    if minutes is None:
        raise ValueError(
            f"unsupported timeframe {timeframe!r}: expected one of {', '.join(TIMEFRAME_MINUTES)}"
        )
    return 60.0 / minutes


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class SignalParams:
    """Thresholds, weights and lookbacks (hours) of the five triggers and the regime.

    Percent fields are in percent (``2.0`` = 2 %); ``crash_volatility`` is an annualised
    standard deviation of log returns (``0.9`` = 90 %).
    """

    candles_per_hour: float = 1.0

    conviction_threshold: float = 0.3
    # Trend triggers weigh most: with Coinbase's ~2.4 % round-trip fee (1.2 % taker at the
    # lowest tier) short-lived edges (spikes, reversals) did not pay in the tuning period
    # (2024-05 .. 2024-12 of the bundled data); they confirm rather than lead.
    weight_price_move: float = 1.0
    weight_volume_spike: float = 0.5
    weight_breakout: float = 2.0
    weight_reversal: float = 0.5
    weight_momentum: float = 2.0

    # price_move: rise over the last few hours.
    price_move_hours: float = 4.0
    price_move_min_pct: float = 2.0
    price_move_full_pct: float = 6.0
    # volume_spike: recent volume against the preceding day's, on a rising price.
    volume_recent_hours: float = 2.0
    volume_base_hours: float = 24.0
    volume_min_ratio: float = 1.8
    volume_full_ratio: float = 4.0
    # breakout: close above the highest high of the preceding window.
    breakout_hours: float = 48.0
    breakout_full_pct: float = 3.0
    # reversal: a bounce after an oversold dip that followed a real drop.
    rsi_hours: float = 14.0
    rsi_oversold: float = 30.0
    rsi_overbought: float = 75.0
    reversal_hours: float = 8.0
    reversal_drop_hours: float = 72.0
    reversal_min_drop_pct: float = 6.0
    reversal_full_drop_pct: float = 15.0
    reversal_bounce_pct: float = 1.0
    # momentum: a day's rise with the fast mean above a rising slow mean, not overbought.
    momentum_hours: float = 24.0
    ma_fast_hours: float = 12.0
    ma_slow_hours: float = 48.0
    momentum_min_pct: float = 1.0
    momentum_full_pct: float = 8.0

    # regime of the market (BTC): 7-day return and volatility.
    regime_hours: float = 168.0
    bull_return_pct: float = 5.0
    bear_return_pct: float = -5.0
    crash_return_pct: float = -15.0
    crash_volatility: float = 0.9
    chop_threshold_add: float = 0.1
    bear_threshold_add: float = 0.2

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"SignalParams.{f.name} must be a number (got {value!r})")
            if not math.isfinite(value):
                raise ValueError(f"SignalParams.{f.name} must be finite (got {value!r})")
            object.__setattr__(self, f.name, float(value))
        if not 0.0 <= self.conviction_threshold <= 1.0:
            self._fail("conviction_threshold", "must be >= 0 and <= 1")
        for name in TRIGGERS:
            if self.weight(name) < 0:
                self._fail(f"weight_{name}", "must be >= 0")
        if sum(self.weights.values()) <= 0:
            raise ValueError("SignalParams: at least one trigger weight must be > 0 (all are 0)")
        if self.candles_per_hour <= 0:
            self._fail("candles_per_hour", "must be > 0")
        for f in fields(self):
            if f.name.endswith("_hours") and getattr(self, f.name) <= 0:
                self._fail(f.name, "must be > 0")
        for low, high in (
            ("price_move_min_pct", "price_move_full_pct"),
            ("volume_min_ratio", "volume_full_ratio"),
            ("reversal_min_drop_pct", "reversal_full_drop_pct"),
            ("momentum_min_pct", "momentum_full_pct"),
            ("rsi_oversold", "rsi_overbought"),
            ("ma_fast_hours", "ma_slow_hours"),
            ("crash_return_pct", "bear_return_pct"),
            ("bear_return_pct", "bull_return_pct"),
        ):
            if not getattr(self, low) < getattr(self, high):
                raise ValueError(
                    f"SignalParams.{low} must be < {high} "
                    f"(got {getattr(self, low)!r} and {getattr(self, high)!r})"
                )
        for name in ("volume_min_ratio", "breakout_full_pct", "reversal_bounce_pct",
                     "crash_volatility", "price_move_min_pct", "reversal_min_drop_pct"):
            if getattr(self, name) <= 0:
                self._fail(name, "must be > 0")
        if not (self.rsi_oversold > 0 and self.rsi_overbought < 100):
            raise ValueError(
                "SignalParams.rsi_oversold and rsi_overbought must lie in (0, 100) "
                f"(got {self.rsi_oversold!r} and {self.rsi_overbought!r})"
            )
        for name in ("chop_threshold_add", "bear_threshold_add"):
            if getattr(self, name) < 0:
                self._fail(name, "must be >= 0")

    def _fail(self, name: str, rule: str) -> None:
        raise ValueError(f"SignalParams.{name} {rule} (got {getattr(self, name)!r})")

    @classmethod
    def for_timeframe(cls, timeframe: str, **changes: Any) -> SignalParams:
        """Parameters for candles of ``timeframe``; ``changes`` override any field."""
        return cls(**{**changes, "candles_per_hour": candles_per_hour(timeframe)})

    def with_changes(self, **changes: Any) -> SignalParams:
        return replace(self, **changes)

    def weight(self, trigger: str) -> float:
        value: float = getattr(self, f"weight_{trigger}")
        return value

    @property
    def weights(self) -> dict[str, float]:
        return {name: self.weight(name) for name in TRIGGERS}

    def candles(self, hours: float) -> int:
        """A lookback in candles; at least one, so a 1 h window still means one 4 h candle."""
        return max(1, round(hours * self.candles_per_hour))

    def warmup_candles(self, *, include_regime: bool = True) -> int:
        """Candles before every trigger (and the regime, if computed here) has a full window."""
        c = self.candles
        needs = [
            c(self.price_move_hours) + 1,
            c(self.volume_recent_hours) + c(self.volume_base_hours),
            c(self.breakout_hours) + 1,
            c(self.rsi_hours) + c(self.reversal_hours),
            c(self.reversal_drop_hours),
            c(self.momentum_hours) + 1,
            c(self.ma_slow_hours) + c(self.ma_fast_hours),
        ]
        if include_regime:
            needs.append(self.regime_warmup_candles())
        return max(needs)

    def regime_warmup_candles(self) -> int:
        return self.candles(self.regime_hours) + 1

    def threshold_for(self, label: str) -> float:
        """Conviction needed in a regime; ``inf`` (never) in a crash or without a regime."""
        if label == Regime.BULL:
            return self.conviction_threshold
        if label == Regime.CHOP:
            return self.conviction_threshold + self.chop_threshold_add
        if label == Regime.BEAR:
            return self.conviction_threshold + self.bear_threshold_add
        return math.inf


# --------------------------------------------------------------------------- exits


@dataclass(frozen=True)
class ExitRule:
    """Per-trigger exit: stop-loss and take-profit as fractions of the entry price, max hold."""

    stop_loss: float
    take_profit: float
    max_hold_hours: float

    def __post_init__(self) -> None:
        if not 0 < self.stop_loss < 1:
            raise ValueError(f"ExitRule.stop_loss must be in (0, 1) (got {self.stop_loss!r})")
        if not self.take_profit > 0:
            raise ValueError(f"ExitRule.take_profit must be > 0 (got {self.take_profit!r})")
        if not self.max_hold_hours > 0:
            raise ValueError(f"ExitRule.max_hold_hours must be > 0 (got {self.max_hold_hours!r})")


# Why these numbers: a breakout or a trend is given room and time to run (wide target, five
# days), since crypto trends pay through a few large winners; a volume spike or a reversal is a
# short-lived edge (tight target, a day or so); price_move sits between. Every stop is at most
# 7 %, under the strategy's 10 % hard floor.
EXIT_RULES: Final[Mapping[str, ExitRule]] = MappingProxyType({
    "price_move": ExitRule(stop_loss=0.06, take_profit=0.12, max_hold_hours=48),
    "volume_spike": ExitRule(stop_loss=0.05, take_profit=0.08, max_hold_hours=24),
    "breakout": ExitRule(stop_loss=0.06, take_profit=0.20, max_hold_hours=120),
    "reversal": ExitRule(stop_loss=0.05, take_profit=0.08, max_hold_hours=36),
    "momentum": ExitRule(stop_loss=0.07, take_profit=0.20, max_hold_hours=120),
})

DEFAULT_EXIT: Final = ExitRule(stop_loss=0.05, take_profit=0.08, max_hold_hours=24)
"""For trades without a known tag (forced entries, older versions): the most cautious rule."""


def exit_rule(tag: str | None, rules: Mapping[str, ExitRule] = EXIT_RULES) -> ExitRule:
    return rules.get(tag or "", DEFAULT_EXIT)


# --------------------------------------------------------------------------- indicators


def _ramp(x: pd.Series, low: float, high: float) -> pd.Series:
    """0 at or below ``low``, 1 at or above ``high``, linear between; NaN -> 0."""
    # numpy, not pandas: seven ramps per pair per candle iteration, and pandas' per-call
    # overhead was a quarter of add_indicators on 173 pairs.
    ramp = np.clip((x.to_numpy(dtype="float64") - low) / (high - low), 0.0, 1.0)
    return pd.Series(np.nan_to_num(ramp, nan=0.0), index=x.index)


def _talib(function: Any, x: pd.Series, window: int) -> pd.Series:
    return pd.Series(function(x.to_numpy(dtype="float64"), timeperiod=window), index=x.index)


def _roc_pct(close: pd.Series, window: int) -> pd.Series:
    """Rate of change in percent over ``window`` candles (TA-Lib ``ROC``)."""
    return _talib(talib.ROC, close, window)


def _rolling_max(x: pd.Series, window: int) -> pd.Series:
    """Trailing maximum, NaN until ``window`` values (TA-Lib ``MAX`` needs a window >= 2)."""
    return _talib(talib.MAX, x, window) if window >= 2 else x.astype("float64")


def _rolling_min(x: pd.Series, window: int) -> pd.Series:
    return _talib(talib.MIN, x, window) if window >= 2 else x.astype("float64")


def _rolling(x: pd.Series, window: int, how: Literal["mean", "std"]) -> pd.Series:
    """Trailing mean / std, each window summed on its own: unlike pandas' running sums the result
    is bit-identical whatever the start of the data (``recursive-analysis`` shows no variance)."""
    values = x.to_numpy(dtype="float64")
    out = np.full(values.size, np.nan)
    if values.size >= window:
        windows = sliding_window_view(values, window)
        # In blocks: std materialises its windows, ~140 MB for a week of 5m candles at once.
        step = max(1, _BLOCK_VALUES // window)
        for first in range(0, len(windows), step):
            block = windows[first:first + step]
            out[window - 1 + first:window - 1 + first + len(block)] = (
                block.mean(axis=1) if how == "mean" else block.std(axis=1, ddof=1))
    return pd.Series(out, index=x.index)


def _rsi(close: pd.Series, window: int) -> pd.Series:
    """Cutler's RSI (simple means of gains and losses): exact once the window is full."""
    delta = close.diff()
    gain = _rolling(delta.clip(lower=0.0), window, "mean")
    loss = _rolling((-delta).clip(lower=0.0), window, "mean")
    total = gain + loss
    rsi: pd.Series = (100.0 * gain / total.where(total > 0)).where(total > 0, 50.0)
    return rsi.where(gain.notna())


def regime(btc_close: pd.Series, params: SignalParams) -> pd.Series:
    """Market regime label per candle of ``btc_close`` (candles at ``params.candles_per_hour``).

    crash: 7-day return <= ``crash_return_pct``, or <= ``bear_return_pct`` with annualised
    volatility >= ``crash_volatility``; bear: return <= ``bear_return_pct``; bull: return >=
    ``bull_return_pct``; chop otherwise; unknown while the window fills.
    """
    close = btc_close.astype("float64")
    n = params.candles(params.regime_hours)
    ret = _roc_pct(close, n)
    log_ret = np.log(close / close.shift(1))
    vol = _rolling(log_ret, n, "std") * math.sqrt(
        params.candles_per_hour * _HOURS_PER_YEAR
    )
    known = ret.notna() & vol.notna()
    crash = (ret <= params.crash_return_pct) | (
        (ret <= params.bear_return_pct) & (vol >= params.crash_volatility)
    )
    labels = np.select(
        [~known, crash, ret <= params.bear_return_pct, ret >= params.bull_return_pct],
        [Regime.UNKNOWN.value, Regime.CRASH.value, Regime.BEAR.value, Regime.BULL.value],
        default=Regime.CHOP.value,
    )
    return pd.Series(labels, index=btc_close.index, name="regime", dtype=object)


def add_indicators(df: pd.DataFrame, params: SignalParams) -> pd.DataFrame:
    """A copy of ``df`` (open, high, low, close, volume) with indicator and strength columns.

    A ``regime`` column already in ``df`` (e.g. merged from BTC) is kept; without one the regime
    is computed from this frame's own close.
    """
    out = df.copy()
    close = out["close"].astype("float64")
    high = out["high"].astype("float64")
    low = out["low"].astype("float64")
    volume = out["volume"].astype("float64")
    c = params.candles

    n = c(params.price_move_hours)
    move_pct = _roc_pct(close, n)
    out[strength_column("price_move")] = _ramp(
        move_pct, params.price_move_min_pct, params.price_move_full_pct
    )

    n_recent, n_base = c(params.volume_recent_hours), c(params.volume_base_hours)
    recent = _rolling(volume, n_recent, "mean")
    base = _rolling(volume.shift(n_recent), n_base, "mean")
    out["volume_ratio"] = recent / base.where(base > 0)
    rising = close > close.shift(n_recent)
    out[strength_column("volume_spike")] = _ramp(
        out["volume_ratio"], params.volume_min_ratio, params.volume_full_ratio
    ).where(rising, 0.0)

    n = c(params.breakout_hours)
    level = _rolling_max(high.shift(1), n)
    out["breakout_level"] = level
    excess_pct = (close / level - 1.0) * 100.0
    # Any close above the level is a breakout (0.5); its size adds the other half.
    out[strength_column("breakout")] = (
        0.5 + 0.5 * _ramp(excess_pct, 0.0, params.breakout_full_pct)
    ).where(excess_pct > 0, 0.0)

    rsi = _rsi(close, c(params.rsi_hours))
    out["rsi"] = rsi
    n_rev = c(params.reversal_hours)
    was_oversold = _rolling_min(rsi, n_rev) <= params.rsi_oversold
    recent_low = _rolling_min(low, n_rev)
    n_drop = c(params.reversal_drop_hours)
    drop_pct = (1.0 - recent_low / _rolling_max(high, n_drop)) * 100.0
    bounced = (close / recent_low - 1.0) * 100.0 >= params.reversal_bounce_pct
    # RSI still lags after a slide (a 2 % bounce leaves it near 20): ask only that it turns up.
    turning = was_oversold & bounced & (rsi > rsi.shift(1))
    out[strength_column("reversal")] = _ramp(
        drop_pct, params.reversal_min_drop_pct, params.reversal_full_drop_pct
    ).where(turning, 0.0)

    n_fast, n_slow = c(params.ma_fast_hours), c(params.ma_slow_hours)
    ma_fast = _rolling(close, n_fast, "mean")
    ma_slow = _rolling(close, n_slow, "mean")
    out["ma_fast"], out["ma_slow"] = ma_fast, ma_slow
    n = c(params.momentum_hours)
    roc_pct = _roc_pct(close, n)
    trending = (ma_fast > ma_slow) & (ma_slow > ma_slow.shift(n_fast))
    out[strength_column("momentum")] = _ramp(
        roc_pct, params.momentum_min_pct, params.momentum_full_pct
    ).where(trending & (rsi < params.rsi_overbought), 0.0)

    if "regime" not in out.columns:
        out["regime"] = regime(close, params)
    return out


def add_entries(df: pd.DataFrame, params: SignalParams) -> pd.DataFrame:
    """A copy of an :func:`add_indicators` frame with ``conviction``, ``enter_long``, ``enter_tag``.

    An ``eligible`` column (point-in-time universe membership), if present, gates entries too;
    so does ``volume > 0`` (freqtrade fills data gaps with zero-volume candles).
    """
    out = df.copy()
    weighted = pd.DataFrame(
        {name: out[strength_column(name)].fillna(0.0) * params.weight(name) for name in TRIGGERS},
        index=out.index,
    )
    total_weight = sum(params.weights.values())
    out["conviction"] = (weighted.sum(axis=1) / total_weight).clip(0.0, 1.0)

    labels = out["regime"].astype(object).fillna(Regime.UNKNOWN.value)
    threshold = labels.map(
        {label.value: params.threshold_for(label) for label in Regime}
    ).fillna(math.inf).astype("float64")
    out["conviction_needed"] = threshold.where(np.isfinite(threshold))

    enter = (out["conviction"] >= threshold) & (out["conviction"] > 0)
    enter &= out["volume"].fillna(0.0) > 0
    if "eligible" in out.columns:
        enter &= out["eligible"].fillna(False).astype(bool)
    dominant = np.asarray(TRIGGERS, dtype=object)[weighted.to_numpy().argmax(axis=1)]
    out["enter_long"] = enter.astype("int64")
    out["enter_tag"] = pd.Series(np.where(enter, dominant, None), index=out.index, dtype=object)
    return out


def build_signals(df: pd.DataFrame, params: SignalParams) -> pd.DataFrame:
    """:func:`add_indicators` then :func:`add_entries`."""
    return add_entries(add_indicators(df, params), params)
