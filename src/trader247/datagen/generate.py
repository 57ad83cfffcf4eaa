"""Deterministic, seeded OHLCV for the bundled pair catalog.

Model (per hour, log returns):

* a market factor with regime switching (trend up, chop, trend down), GARCH(1,1) volatility with
  Student-t shocks (volatility clustering, fat tails) and one crash of -30 % or more within 48 h
  followed by a volatility aftershock;
* each generated pair = beta x market + its own GARCH noise, rescaled to the pair's hourly
  volatility; the crash is imposed on every pair at the same time (a market-wide event);
* intrabar highs/lows as wicks beyond the body, scaled by the candle's conditional volatility;
* volume: a USD amount per hour (intraday seasonality measured on the real candles, more volume in
  volatile hours) normalised so that the 24h USD volume *as Coinbase reports it* -- the trailing
  24 h of base volume times the current price (``approximate_quote_24h_volume``), not a sum of
  hourly USD amounts -- follows a slowly wandering level bounded to the catalog's band around the
  target, then converted to BASE units.

5m candles are a bridge of coarser candles: each 1h (generated) or 15m (real) candle is split into
sub-candles that keep its open/high/low/close exactly and split its volume, so that 5m and 1h data
tell the same story.

Every random stream is keyed by (seed, pair, purpose): a pair's series does not depend on which
other pairs are generated, which keeps tests on a few pairs representative of the full set.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

from trader247.datagen.catalog import REAL_TIMEFRAMES, Pair, by_pair
from trader247.datagen.settings import (
    DEFAULT_REAL_DIR,
    DEFAULT_SEED,
    GENERATOR_VERSION,
    HOUR_MS,
    MANIFEST,
    MINUTE_MS,
    TIMEFRAMES,
    DataGenError,
    Settings,
    Summary,
    manifest_key,
    read_manifest,
    up_to_date,
)

__all__ = [
    "DEFAULT_REAL_DIR",
    "DEFAULT_SEED",
    "GENERATOR_VERSION",
    "MANIFEST",
    "TIMEFRAMES",
    "Candles",
    "DataGenError",
    "Generator",
    "PriceModel",
    "Settings",
    "Summary",
    "bridge",
    "trailing_usd_volume",
    "write_dataset",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Hours simulated before the first candle so that GARCH state and the first trailing-24h volume
# window start from a steady state instead of from the unconditional variance.
WARMUP_HOURS: Final = 24 * 21
PRICE_FLOOR: Final = 1e-6

# Median hourly USD volume by UTC hour relative to the daily mean, and mean |return| by hour,
# both measured on the four real pairs (US hours are busy, Asian late night is quiet).
VOLUME_SEASONALITY: Final = np.array([
    0.98, 0.96, 0.87, 0.75, 0.68, 0.60, 0.59, 0.61, 0.62, 0.59, 0.62, 0.66,
    0.91, 1.41, 1.83, 1.66, 1.54, 1.40, 1.31, 1.42, 1.19, 1.00, 0.93, 0.89,
])
VOLATILITY_SEASONALITY: Final = np.array([
    1.08, 1.17, 0.94, 0.87, 0.81, 0.82, 0.84, 0.86, 0.90, 0.81, 0.81, 0.82,
    0.94, 1.32, 1.48, 1.36, 1.11, 1.19, 1.07, 1.06, 1.01, 0.96, 0.98, 0.79,
])

MARKET_VOL: Final = 0.005
GARCH_ALPHA: Final = 0.10
GARCH_BETA: Final = 0.88
GARCH_CAP: Final = 5.0
STUDENT_DF: Final = 4.0
CRASH_HOURS: Final = (30, 44)
CRASH_DEPTH: Final = (0.31, 0.36)


@dataclass(frozen=True)
class PriceModel:
    """Start price (first open), hourly log-return volatility and beta to the market factor."""

    start_price: float
    hourly_vol: float
    beta: float


# Real pairs: start price and volatility measured on the real candles (used by the synthetic
# variant); the others approximate April 2024 Coinbase prices.
PRICE_MODELS: Final[dict[str, PriceModel]] = {
    "BTC": PriceModel(63582.07, 0.00538, 1.0),
    "ETH": PriceModel(3064.34, 0.00751, 1.2),
    "SOL": PriceModel(139.48, 0.00955, 1.4),
    "ADA": PriceModel(0.4537, 0.01131, 1.3),
    "XRP": PriceModel(0.50, 0.0100, 1.2),
    "DOGE": PriceModel(0.155, 0.0120, 1.4),
    "AVAX": PriceModel(33.0, 0.0115, 1.4),
    "LINK": PriceModel(13.5, 0.0110, 1.3),
    "LTC": PriceModel(80.0, 0.0090, 1.1),
    "DOT": PriceModel(6.6, 0.0105, 1.3),
    "POL": PriceModel(0.68, 0.0115, 1.3),
    "NEAR": PriceModel(6.0, 0.0125, 1.4),
    "ATOM": PriceModel(8.3, 0.0105, 1.2),
    "UNI": PriceModel(7.3, 0.0125, 1.3),
    "XLM": PriceModel(0.105, 0.0100, 1.1),
    "AAVE": PriceModel(88.0, 0.0120, 1.3),
    "ICP": PriceModel(12.5, 0.0120, 1.2),
    "FIL": PriceModel(5.7, 0.0120, 1.3),
    "GRT": PriceModel(0.26, 0.0125, 1.4),
    "ALGO": PriceModel(0.17, 0.0115, 1.2),
    "SUI": PriceModel(1.05, 0.0145, 1.5),
    "SHIB": PriceModel(2.3e-5, 0.0120, 1.4),
    "BONK": PriceModel(2.0e-5, 0.0170, 1.7),
    "ARB": PriceModel(1.05, 0.0130, 1.4),
    "OP": PriceModel(2.3, 0.0130, 1.4),
    "PEPE": PriceModel(1.0e-5, 0.0160, 1.6),
    "HBAR": PriceModel(0.10, 0.0120, 1.2),
    "INJ": PriceModel(25.0, 0.0140, 1.5),
    "FET": PriceModel(2.2, 0.0150, 1.5),
    "SEI": PriceModel(0.55, 0.0150, 1.5),
}
# Real volumes swing far more than the catalog's +-20 % (5th-95th percentile ~0.25x-3x of the
# median), so the synthetic stand-ins for real pairs get a wider band.
SYNTHETIC_REAL_WIGGLE: Final = 0.5


@dataclass(frozen=True)
class Candles:
    """Columnar OHLCV; ``date_ms`` are candle open times in epoch milliseconds (UTC)."""

    date_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.date_ms.shape[0])

    def between(self, first_ms: int, last_ms: int) -> Candles:
        """Candles whose open time is in [first_ms, last_ms]."""
        keep = (self.date_ms >= first_ms) & (self.date_ms <= last_ms)
        return Candles(self.date_ms[keep], self.open[keep], self.high[keep], self.low[keep],
                       self.close[keep], self.volume[keep])

    def to_table(self) -> pa.Table:
        """freqtrade's feather layout, without pandas metadata: the bytes depend on data only."""
        return pa.table({
            "date": pa.array(self.date_ms, type=pa.timestamp("ms", tz="UTC")),
            "open": pa.array(self.open, type=pa.float64()),
            "high": pa.array(self.high, type=pa.float64()),
            "low": pa.array(self.low, type=pa.float64()),
            "close": pa.array(self.close, type=pa.float64()),
            "volume": pa.array(self.volume, type=pa.float64()),
        })

    def to_frame(self) -> pd.DataFrame:
        return self.to_table().to_pandas()

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Candles:
        dates = pd.to_datetime(df["date"], utc=True).dt.as_unit("ms")
        return cls(
            dates.to_numpy(dtype="datetime64[ms]").astype(np.int64),
            *(df[c].to_numpy(dtype=np.float64, copy=True)
              for c in ("open", "high", "low", "close", "volume")),
        )


# ---------------------------------------------------------------------------------------------
# random streams and small numeric helpers


def _rng(seed: int, *key: str) -> np.random.Generator:
    # crc32 rather than hash(): str hashes are salted per process, which would break determinism.
    words = [seed & 0xFFFFFFFF, *(zlib.crc32(k.encode()) for k in key)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))


def _student(rng: np.random.Generator, n: int) -> FloatArray:
    """Unit-variance Student-t shocks, clipped so one draw cannot produce an absurd candle."""
    z = rng.standard_t(STUDENT_DF, n) / np.sqrt(STUDENT_DF / (STUDENT_DF - 2.0))
    return np.asarray(np.clip(z, -6.0, 6.0), dtype=np.float64)


def _garch_variance(z: FloatArray) -> FloatArray:
    """Unit-mean GARCH(1,1) variance path driven by standardised shocks ``z``."""
    omega = 1.0 - GARCH_ALPHA - GARCH_BETA
    out = np.empty_like(z)
    h = 1.0
    # A Python loop over plain floats: the recursion has a time-varying coefficient, so it does not
    # vectorise, and 10k floats per series is a few milliseconds.
    for i, zi in enumerate(z.tolist()):
        out[i] = h
        # Capped: with fat-tailed shocks an uncapped GARCH occasionally spirals into a -60 %
        # day for one coin, which would drown the designed crash.
        h = min(omega + (GARCH_ALPHA * zi * zi + GARCH_BETA) * h, GARCH_CAP)
    return out


def _ar1(rng: np.random.Generator, n: int, memory_hours: float) -> FloatArray:
    """Stationary unit-variance AR(1) with the given e-folding memory."""
    phi = float(np.exp(-1.0 / memory_hours))
    eps = (rng.standard_normal(n) * np.sqrt(1.0 - phi * phi)).tolist()
    eps[0] = float(rng.standard_normal())
    out = np.empty(n)
    x = 0.0
    # A plain loop (scipy.signal.lfilter would do it, but importing scipy costs seconds).
    for i, e in enumerate(eps):
        x = phi * x + e
        out[i] = x
    return out


def _trailing_sum(x: FloatArray, window: int) -> FloatArray:
    """Sum over the last ``window`` values including the current one (partial at the start)."""
    c = np.cumsum(x)
    out = c.copy()
    out[window:] = c[window:] - c[:-window]
    return out


def _round_tick(x: FloatArray, tick: float) -> FloatArray:
    # Ticks are powers of ten: dividing by the exact integer 1/tick yields the double nearest to
    # the decimal price (1.94917e-05), where multiplying by an inexact tick would not.
    scale = round(1.0 / tick)
    return np.asarray(np.round(x * scale) / scale, dtype=np.float64)


def _hour_of_day(start_ms: int, n: int) -> IntArray:
    return ((start_ms // HOUR_MS + np.arange(n, dtype=np.int64)) % 24).astype(np.int64)


def trailing_usd_volume(c: Candles, usd_price: FloatArray | None = None,
                        window_ms: int = 24 * HOUR_MS) -> FloatArray:
    """The exchange's 24h volume in USD at each candle, as Coinbase computes it: the base volume
    of the trailing 24 h times the price at that candle's close (``volume_24h x price``).

    ``usd_price`` is the base's USD price when the quote is not USD (X/BTC: the X/USD close).
    Windows are by time, so gaps in the candles do not stretch them.
    """
    price = c.close if usd_price is None else usd_price
    base = np.cumsum(c.volume)
    first = np.searchsorted(c.date_ms, c.date_ms - window_ms, side="right")
    before = np.where(first > 0, base[np.maximum(first - 1, 0)], 0.0)
    return np.asarray((base - before) * price, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# market factor with regimes


@dataclass(frozen=True)
class _Market:
    returns: FloatArray  # log returns incl. regime drift, WARMUP_HOURS + hours
    sigma: FloatArray  # conditional std of the market shock
    vol_mult: FloatArray  # regime x crash-aftershock multiplier
    regime: npt.NDArray[np.int8]  # 0 up, 1 chop, 2 down, 3 crash
    crash: tuple[int, int]  # [first, stop) hour index within the output range


REGIME_NAMES: Final = ("trend_up", "chop", "trend_down", "crash")
_REGIME_DAYS: Final = ((8.0, 40.0), (5.0, 25.0), (6.0, 30.0))
_REGIME_VOL: Final = (1.0, 0.75, 1.15)
# Next regime given the current one: no self transitions (a segment's length is drawn instead).
_REGIME_NEXT: Final = ((0.0, 0.6, 0.4), (0.55, 0.0, 0.45), (0.4, 0.6, 0.0))


def _market(s: Settings) -> _Market:
    rng = _rng(s.seed, "market", "regimes")
    n = WARMUP_HOURS + s.hours
    regime = np.ones(n, dtype=np.int8)  # the warm-up is chop
    drift = np.zeros(n)
    vol_mult = np.ones(n)
    pos = WARMUP_HOURS
    current = int(rng.integers(0, 3))
    while pos < n:
        lo, hi = _REGIME_DAYS[current]
        length = int(rng.uniform(lo, hi) * 24)
        seg = slice(pos, min(n, pos + length))
        regime[seg] = current
        vol_mult[seg] = _REGIME_VOL[current]
        if current == 0:
            drift[seg] = rng.uniform(0.004, 0.012) / 24
        elif current == 2:
            drift[seg] = -rng.uniform(0.004, 0.010) / 24
        pos += length
        current = int(rng.choice(3, p=_REGIME_NEXT[current]))

    crash_len = int(rng.integers(CRASH_HOURS[0], CRASH_HOURS[1] + 1))
    first = int(rng.integers(int(0.15 * s.hours), int(0.85 * s.hours) - crash_len))
    a = WARMUP_HOURS + first
    regime[a:a + crash_len] = 3
    drift[a:a + crash_len] = np.log(1.0 - CRASH_DEPTH[0]) / crash_len
    vol_mult[a:a + crash_len] = 2.0
    after = np.arange(n - (a + crash_len))
    # Volatility stays high for days after a crash (and volume with it, via |returns|).
    vol_mult[a + crash_len:] *= 1.0 + 1.5 * np.exp(-after / 72.0)

    z = _student(_rng(s.seed, "market", "shocks"), n)
    hours = _hour_of_day(s.start_ms - WARMUP_HOURS * HOUR_MS, n)
    sigma = MARKET_VOL * vol_mult * VOLATILITY_SEASONALITY[hours] * np.sqrt(_garch_variance(z))
    return _Market(drift + sigma * z, sigma, vol_mult, regime, (first, first + crash_len))


# ---------------------------------------------------------------------------------------------
# one generated pair


def _wicks(rng: np.random.Generator, o: FloatArray, c: FloatArray,
           sigma: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Highs/lows beyond the body: exponential wicks scaled by the candle's volatility.

    0.3 sigma per side makes the mean high-low range ~1.4 sigma, as measured on the real candles.
    """
    up = sigma * 0.3 * rng.standard_exponential(o.shape[0])
    down = sigma * 0.3 * rng.standard_exponential(o.shape[0])
    return np.maximum(o, c) * np.exp(up), np.minimum(o, c) * np.exp(-down)


def _finish(date_ms: IntArray, o: FloatArray, h: FloatArray, low: FloatArray, c: FloatArray,
            volume: FloatArray, tick: float) -> Candles:
    """Round to the tick and restore low <= min(open, close) <= max(open, close) <= high."""
    o, h, low, c = (_round_tick(x, tick) for x in (o, h, low, c))
    o = np.maximum(o, tick)
    c = np.maximum(c, tick)
    h = np.maximum(h, np.maximum(o, c))
    low = np.clip(low, tick, np.minimum(o, c))
    return Candles(date_ms, o, h, low, c, volume)


def _forward_mean(x: FloatArray, window: int) -> FloatArray:
    """Mean of x[i:i + window] (shorter at the end)."""
    c = np.concatenate(([0.0], np.cumsum(x)))
    idx = np.arange(x.shape[0])
    stop = np.minimum(idx + window, x.shape[0])
    return np.asarray((c[stop] - c[idx]) / (stop - idx), dtype=np.float64)


def _usd_volume(rng: np.random.Generator, s: Settings, returns: FloatArray, sigma: FloatArray,
                target: float, wiggle: float, tight: bool, price: FloatArray) -> FloatArray:
    """Hourly USD volume whose 24h USD volume stays within ``target x (1 ± wiggle)``.

    ``returns``/``sigma``/``price`` (the base's USD price per hour) cover WARMUP_HOURS + hours;
    the result covers the output hours only. The 24h USD volume is Coinbase's: the trailing
    24 h of *base* volume times the price now, so the level is pinned in base units against
    ``desired / price`` (see ``trailing_usd_volume``).

    A trailing 24h sum of independent hourly noise wanders by noise/sqrt(24): too much for a
    +-3 % band. So the hourly profile is the seasonality times a slow 24h level, plus mild
    independent noise, plus first-differenced noise (e_t - e_t-1), whose 24h sum telescopes to
    e_t - e_t-24 and so gives lively hours without moving the 24h total.
    """
    n = returns.shape[0]
    out = slice(n - s.hours, n)
    hours = _hour_of_day(s.start_ms - (n - s.hours) * HOUR_MS, n)
    season = VOLUME_SEASONALITY[hours] / VOLUME_SEASONALITY.mean()

    # The 24h level: a slow random wander (3-day memory), plus for ordinary pairs the recent
    # volatility (volume follows turbulence), squashed by tanh into part of the band.
    level = _ar1(rng, n, 72.0)
    if not tight:
        vol = np.log(np.maximum(pd.Series(sigma).rolling(48, min_periods=1).mean().to_numpy(),
                                1e-12))
        level = level + 1.5 * (vol - vol.mean()) / max(float(vol.std()), 1e-12)
    level = np.convolve(level, np.ones(24) / 24, mode="same")
    level = (level - np.median(level[out])) / max(float(level[out].std()), 1e-12)
    share = 0.45 if tight else 0.7
    desired = target * (1.0 + share * wiggle * np.tanh(0.8 * level))

    hourly = desired / 24.0 * season
    if tight:
        jitter = np.exp(0.03 * rng.standard_normal(n))
        kick = 0.07
    else:
        activity = np.clip(np.abs(returns) / np.maximum(sigma, 1e-12), 0.0, 4.0)
        jitter = np.exp(0.15 * rng.standard_normal(n)) * (0.75 + 0.25 * activity)
        kick = 0.12
    e = kick * desired / 24.0 * np.clip(rng.standard_normal(n), -2.5, 2.5)
    usd = hourly * jitter / _forward_mean(jitter, 24) + e - np.concatenate(([0.0], e[:-1]))
    usd = np.maximum(usd, 0.05 * hourly)

    # Pin the 24h base sums to the level: scale each hour by the mean correction of the windows
    # it belongs to (a smooth correction: the windows overlap, so per-hour ratios would
    # oscillate).
    base = usd / price
    for _ in range(6):
        base = base * _forward_mean(desired / price / _trailing_sum(base, 24), 24)
    # The band is a promise (near-floor pairs must not drift across their floor by more than
    # the catalog says): pull in the windows that still poke out (a crash moves the price 30 %
    # within two days), leaving the others be.
    base = _pull_into_band(base, price, target, 0.97 * wiggle, window=24)
    return np.asarray((base * price)[out], dtype=np.float64)


def _pull_into_band(volume: FloatArray, price: FloatArray, target: float, band: float,
                    window: int) -> FloatArray:
    """Base volumes whose every full window's ``sum x price`` (the 24h USD volume) is within
    ``target x (1 ± band)``.

    One forward pass: a window that pokes out is brought to the band's edge through its newest
    candle alone, so windows already in band are not touched and earlier windows never change.
    A candle is never cut below 5 % of its volume (a sudden rally would ask for that).
    """
    lo, hi = target * (1.0 - band), target * (1.0 + band)
    base = volume.astype(np.float64, copy=True)
    total = float(base[:window - 1].sum())
    for t in range(window - 1, base.shape[0]):
        total += base[t] - (base[t - window] if t >= window else 0.0)
        achieved = total * price[t]
        if lo <= achieved <= hi:
            continue
        wanted = min(max(achieved, lo), hi) / price[t] - total + base[t]
        new = max(wanted, 0.05 * base[t])
        total += new - base[t]
        base[t] = new
    return base


@dataclass
class Generator:
    """Builds candles for one :class:`Settings`; results are cached per pair."""

    settings: Settings
    _market: _Market | None = None
    _hourly: dict[str, Candles] = field(default_factory=dict)
    _fine: dict[str, Candles] = field(default_factory=dict)

    @property
    def market(self) -> _Market:
        if self._market is None:
            self._market = _market(self.settings)
        return self._market

    @property
    def crash_window(self) -> tuple[datetime, datetime]:
        """Open times of the first and last 1h candle of the market-wide crash."""
        first, stop = self.market.crash
        start = self.settings.start
        return start + timedelta(hours=first), start + timedelta(hours=stop - 1)

    def regimes(self) -> pd.Series:
        """Market regime name per 1h candle of the output range (generated pairs follow it)."""
        s = self.settings
        codes = self.market.regime[WARMUP_HOURS:]
        index = pd.date_range(s.start, periods=s.hours, freq="1h", name="date")
        return pd.Series(np.asarray(REGIME_NAMES)[codes], index=index, name="regime")

    # -- sources -----------------------------------------------------------------------------

    def _real(self, pair: Pair, timeframe: str) -> Candles:
        return Candles.from_frame(pd.read_feather(self.settings.real_path(pair, timeframe)))

    # -- 1h ----------------------------------------------------------------------------------

    def hourly(self, pair_name: str) -> Candles:
        pair = by_pair(pair_name)
        if pair.pair not in self._hourly:
            s = self.settings
            if s.is_real(pair):
                candles = self._real(pair, "1h").between(s.start_ms, s.end_ms)
                if len(candles) == 0:
                    raise DataGenError(f"{pair.pair}: no real 1h candles in the requested range")
            elif pair.stablecoin:
                candles = self._stable(pair)
            elif pair.source == "derived":
                candles = self._derived_hourly(pair)
            else:
                candles = self._generated(pair)
                if pair.near_floor:
                    candles = self._pin_fine(pair, candles)
            self._hourly[pair.pair] = candles
        return self._hourly[pair.pair]

    def _pin_fine(self, pair: Pair, hourly: Candles) -> Candles:
        """Near-floor pairs: keep the 24h USD volume in band on the 5m candles too.

        A 5m window ends inside an hour, where the price has moved since the hour's close the
        hourly pin used; for a pair 1 % from its floor that move alone would cross the floor.
        The 5m volumes (the bridge of the hourly candles) are pulled into the band, and the
        hourly volumes of the 5m range become their sums, so both timeframes still agree.
        """
        s = self.settings
        fine_rng = _rng(s.seed, pair.pair, "bridge")
        fine = bridge(hourly.between(s.fine_first_ms, s.fine_last_ms), 12, 5 * MINUTE_MS,
                      pair.price_tick, fine_rng)
        volume = _pull_into_band(fine.volume, fine.close, pair.target_usd_volume,
                                 pair.wiggle * 0.97, window=288)
        self._fine[pair.pair] = Candles(fine.date_ms, fine.open, fine.high, fine.low,
                                        fine.close, volume)
        in_fine = (hourly.date_ms >= s.fine_first_ms) & (hourly.date_ms <= s.fine_last_ms)
        merged = hourly.volume.copy()
        merged[in_fine] = volume.reshape(-1, 12).sum(axis=1)
        return Candles(hourly.date_ms, hourly.open, hourly.high, hourly.low, hourly.close,
                       merged)

    def _generated(self, pair: Pair) -> Candles:
        s, mkt = self.settings, self.market
        model = PRICE_MODELS[pair.base]
        rng = _rng(s.seed, pair.pair, "price")
        n = mkt.returns.shape[0]
        out = slice(n - s.hours, n)

        z = _student(rng, n)
        idio_h = _garch_variance(z)
        market_var = (model.beta * MARKET_VOL) ** 2
        idio_scale = np.sqrt(max(model.hourly_vol**2 - market_var, (0.35 * model.hourly_vol) ** 2))
        idio_sigma = idio_scale * np.sqrt(mkt.vol_mult * idio_h)
        r = model.beta * mkt.returns + idio_sigma * z
        sigma = np.sqrt((model.beta * mkt.sigma) ** 2 + idio_sigma**2)

        first, stop = mkt.crash
        crash = slice(out.start + first, out.start + stop)
        calm = np.ones(n, dtype=bool)
        calm[crash] = False
        scale = model.hourly_vol / float(r[out][calm[out]].std())
        r[calm] *= scale
        sigma = sigma * scale
        # Every pair crashes: higher-beta coins a little deeper. The shocks inside the window are
        # kept (demeaned) so the fall is jagged, but its total is exact.
        depth = float(np.clip(rng.uniform(*CRASH_DEPTH) + 0.03 * (model.beta - 1.0), 0.30, 0.45))
        r[crash] = r[crash] - r[crash].mean() + np.log(1.0 - depth) / (stop - first)
        # Keep the 14-month drift within reason (no coin goes x10 or to dust) by spreading a
        # clipped endpoint over the calm hours.
        total = float(r[out].sum())
        wanted = float(np.clip(total, -0.8, 1.0))
        calm_out = np.flatnonzero(calm[out]) + out.start
        r[calm_out] += (wanted - total) / calm_out.shape[0]

        close = model.start_price * np.exp(np.cumsum(r[out]))
        floor = max(PRICE_FLOOR, 100.0 * pair.price_tick)
        if close.min() < 1.5 * floor:
            close *= 1.5 * floor / close.min()
        open_ = np.concatenate(([close[0] / np.exp(r[out][0])], close[:-1]))
        high, low = _wicks(rng, open_, close, sigma[out])

        path = np.exp(np.cumsum(r))  # the price over warm-up + output hours
        usd = _usd_volume(_rng(s.seed, pair.pair, "volume"), s, r, sigma, pair.target_usd_volume,
                          SYNTHETIC_REAL_WIGGLE if pair.source == "real" else pair.wiggle,
                          tight=pair.near_floor, price=path * close[0] / path[out.start])
        dates = s.start_ms + np.arange(s.hours, dtype=np.int64) * HOUR_MS
        return _finish(dates, open_, high, low, close, usd / close, pair.price_tick)

    def _stable(self, pair: Pair) -> Candles:
        """A USD stablecoin: 1.000 with basis-point noise and a small premium in the crash."""
        s, mkt = self.settings, self.market
        rng = _rng(s.seed, pair.pair, "price")
        n = mkt.returns.shape[0]
        out = slice(n - s.hours, n)
        dev = 0.0003 * _ar1(rng, n, 24.0)
        first, stop = mkt.crash
        # Flight to the stablecoin during a crash: a premium of ~0.15 % that fades over days.
        t = np.arange(n, dtype=np.float64) - (out.start + first)
        dev += np.where(t >= 0, 0.0015 * np.exp(-np.maximum(t - (stop - first), 0.0) / 48.0), 0.0)
        close = 1.0 + np.clip(dev, -0.003, 0.003)
        r = np.diff(np.log(close), prepend=np.log(close[0]))
        sigma = np.full(n, 0.0002)
        c = close[out]
        o = np.concatenate(([close[out.start - 1]], c[:-1]))
        high = np.minimum(np.maximum(o, c) + 0.0001 * rng.standard_exponential(s.hours), 1.004)
        low = np.maximum(np.minimum(o, c) - 0.0001 * rng.standard_exponential(s.hours), 0.996)
        usd = _usd_volume(_rng(s.seed, pair.pair, "volume"), s, r, sigma, pair.target_usd_volume,
                          pair.wiggle, tight=True, price=close)
        dates = s.start_ms + np.arange(s.hours, dtype=np.int64) * HOUR_MS
        return _finish(dates, o, high, low, c, usd / c, pair.price_tick)

    def _derived_hourly(self, pair: Pair) -> Candles:
        s = self.settings
        dates, (o, h, low, c), usd_price = self._derived_prices(pair, self.hourly)
        # The volume model works on a gap-free hourly grid with a warm-up; the parents are gap-free
        # hourly over the whole range (real and generated alike), so the warm-up is made up by
        # repeating the first day.
        if len(dates) != s.hours or dates[0] != s.start_ms or np.any(np.diff(dates) != HOUR_MS):
            raise DataGenError(f"{pair.pair}: parent 1h candles do not cover the range gap-free")
        r = np.diff(np.log(c), prepend=np.log(o[0]))
        sigma = pd.Series(r).ewm(span=72).std().bfill().fillna(1e-4).to_numpy() + 1e-9
        r_ext = np.concatenate((np.resize(r[:24], WARMUP_HOURS), r))
        sigma_ext = np.concatenate((np.resize(sigma[:24], WARMUP_HOURS), sigma))
        price_ext = np.concatenate((np.resize(usd_price[:24], WARMUP_HOURS), usd_price))
        usd = _usd_volume(_rng(s.seed, pair.pair, "volume"), s, r_ext, sigma_ext,
                          pair.target_usd_volume, pair.wiggle, tight=False, price=price_ext)
        return _finish(dates, o, h, low, c, usd / usd_price, pair.price_tick)

    def _derived_prices(self, pair: Pair, source: Callable[[str], Candles]
                        ) -> tuple[IntArray, tuple[FloatArray, ...], FloatArray]:
        """Dates, (open, high, low, close) and the base's USD price for a derived pair."""
        base = source(pair.parents[0])
        if pair.quote == "USDC":
            # X/USDC = X/USD x a factor wandering a few basis points around 1.0002, one value per
            # hour (5m candles use their hour's, so both timeframes agree); one factor per candle
            # keeps the candle's own OHLC ordering.
            s = self.settings
            rng = _rng(s.seed, pair.pair, "peg")
            hourly_factor = np.clip(1.0002 + 0.00008 * _ar1(rng, s.hours, 24.0), 1.0, 1.0005)
            factor = hourly_factor[(base.date_ms - s.start_ms) // HOUR_MS]
            ohlc = tuple(x * factor for x in (base.open, base.high, base.low, base.close))
            return base.date_ms, ohlc, ohlc[3]
        quote = source(pair.parents[1])
        # The true intrabar extremes of a ratio are unknowable from two candles: high/high and
        # low/low are a plausible proxy, widened to include the open and close.
        dates, ib, iq = np.intersect1d(base.date_ms, quote.date_ms, return_indices=True)
        o = base.open[ib] / quote.open[iq]
        c = base.close[ib] / quote.close[iq]
        h = np.maximum(base.high[ib] / quote.high[iq], np.maximum(o, c))
        low = np.minimum(base.low[ib] / quote.low[iq], np.minimum(o, c))
        return np.asarray(dates, dtype=np.int64), (o, h, low, c), base.close[ib]

    # -- 5m ----------------------------------------------------------------------------------

    def fine(self, pair_name: str) -> Candles:
        pair = by_pair(pair_name)
        if pair.pair not in self._fine:
            s = self.settings
            rng = _rng(s.seed, pair.pair, "bridge")
            if s.is_real(pair):
                coarse = self._real(pair, "15m").between(s.fine_first_ms, s.fine_last_ms)
                if len(coarse) == 0:
                    raise DataGenError(f"{pair.pair}: no real 15m candles in the last "
                                       f"{s.fine_days} days")
                candles = bridge(coarse, 3, 5 * MINUTE_MS, pair.price_tick, rng)
            elif pair.source == "derived":
                candles = self._derived_fine(pair)
            else:
                coarse = self.hourly(pair.pair).between(s.fine_first_ms, s.fine_last_ms)
                candles = bridge(coarse, 12, 5 * MINUTE_MS, pair.price_tick, rng)
            self._fine[pair.pair] = candles
        return self._fine[pair.pair]

    def _derived_fine(self, pair: Pair) -> Candles:
        """Prices from the parents' 5m candles; the pair's own 1h volume is split over the hour's
        5m candles in proportion to its base's USD volume (activity is shared across markets)."""
        s = self.settings
        dates, (o, h, low, c), _ = self._derived_prices(pair, self.fine)
        base = self.fine(pair.parents[0])
        base_usd = (base.volume * base.close)[np.isin(base.date_ms, dates)]
        hour = (dates - s.fine_first_ms) // HOUR_MS
        hourly = self.hourly(pair.pair).between(s.fine_first_ms, s.end_ms)
        per_hour = np.bincount(hour, weights=base_usd, minlength=len(hourly))
        share = base_usd / np.maximum(per_hour[hour], 1e-300)
        return _finish(dates, o, h, low, c, hourly.volume[hour] * share, pair.price_tick)


def bridge(coarse: Candles, k: int, step_ms: int, tick: float,
           rng: np.random.Generator) -> Candles:
    """Split every candle into ``k`` sub-candles of ``step_ms`` keeping its O/H/L/C exactly.

    The path through a candle is a Brownian bridge from open to close (log space, kept inside
    [low, high] and on the tick grid); the sub-candle where the path peaks carries the candle's
    high, the one where it bottoms its low. Volume is split with mild noise so the trailing-24h
    volume stays as smooth as the coarse one.
    """
    n = len(coarse)
    o, h, lo, c, v = coarse.open, coarse.high, coarse.low, coarse.close, coarse.volume
    span = np.maximum(np.log(h) - np.log(lo), 0.0)
    w = np.cumsum(rng.standard_normal((n, k)), axis=1)
    j = np.arange(1, k, dtype=np.float64) / k
    b = w[:, : k - 1] - j * w[:, [k - 1]]
    interior = np.exp(np.log(o)[:, None] + j * (np.log(c) - np.log(o))[:, None]
                      + b * (span[:, None] * 0.35 / np.sqrt(k)))
    interior = np.clip(_round_tick(np.clip(interior, lo[:, None], h[:, None]), tick),
                       lo[:, None], h[:, None])
    points = np.concatenate((o[:, None], interior, c[:, None]), axis=1)
    so, sc = points[:, :-1], points[:, 1:]
    body_hi, body_lo = np.maximum(so, sc), np.minimum(so, sc)
    sh = body_hi + rng.random((n, k)) ** 2 * 0.5 * (h[:, None] - body_hi)
    sl = body_lo - rng.random((n, k)) ** 2 * 0.5 * (body_lo - lo[:, None])
    sh = np.clip(_round_tick(sh, tick), body_hi, h[:, None])
    sl = np.clip(_round_tick(sl, tick), lo[:, None], body_lo)
    rows = np.arange(n)
    sh[rows, np.argmax(body_hi, axis=1)] = h
    sl[rows, np.argmin(body_lo, axis=1)] = lo
    share = np.exp(0.15 * rng.standard_normal((n, k)))
    share /= share.sum(axis=1, keepdims=True)
    dates = coarse.date_ms[:, None] + np.arange(k, dtype=np.int64) * step_ms
    return Candles(dates.ravel(), so.ravel(), sh.ravel(), sl.ravel(), sc.ravel(),
                   (v[:, None] * share).ravel())


# ---------------------------------------------------------------------------------------------
# writing


def _write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _copier(src: Path) -> Callable[[Path], object]:
    return lambda dst: shutil.copyfile(src, dst)


def _write_candles(c: Candles, path: Path) -> None:
    # lz4 like freqtrade's own feather writer; compression is part of the byte-identity promise.
    _write_atomic(path, lambda p: feather.write_feather(c.to_table(), p, compression="lz4"))


def write_dataset(s: Settings, out_dir: Path, *, force: bool = False) -> Summary:
    """Generate the data set for ``s`` into ``out_dir``; skip when its manifest already matches."""
    started = time.perf_counter()
    key = manifest_key(s)
    if not force:
        total = up_to_date(s, out_dir, key)
        if total is not None:
            files = len(read_manifest(out_dir)["files"])  # type: ignore[index]
            return Summary(files, total, time.perf_counter() - started, True, out_dir)
    previous = read_manifest(out_dir)
    if (previous is not None and not force and previous["key"].get("variant") == "real"
            and s.variant == "synthetic"):
        raise DataGenError(
            f"{out_dir} holds the real-candle data set; the synthetic variant would overwrite the "
            f"real files there. Use another --out (e.g. {out_dir}-synthetic) or --force")

    gen = Generator(s)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for pair in s.selected():
        if s.is_real(pair):
            # Real candles are copied byte for byte: they are the reference, not re-encoded.
            for tf in REAL_TIMEFRAMES:
                src = s.real_path(pair, tf)
                _write_atomic(out_dir / src.name, _copier(src))
                written[src.name] = (out_dir / src.name).stat().st_size
        for tf in sorted(s.timeframes):
            if tf == "1h" and s.is_real(pair):
                continue
            candles = gen.hourly(pair.pair) if tf == "1h" else gen.fine(pair.pair)
            name = f"{pair.file_stem}-{tf}.feather"
            _write_candles(candles, out_dir / name)
            written[name] = (out_dir / name).stat().st_size

    readme = out_dir / "README.md"
    _write_atomic(readme, lambda p: p.write_text(_readme(s), encoding="utf-8"))
    written[readme.name] = readme.stat().st_size

    # Files of an earlier, different run that this run did not rewrite would be stale.
    if previous is not None:
        for name in set(previous["files"]) - set(written):
            if "/" not in name and name != MANIFEST:
                (out_dir / name).unlink(missing_ok=True)

    manifest = {"key": key, "files": dict(sorted(written.items()))}
    _write_atomic(out_dir / MANIFEST, lambda p: p.write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"))
    return Summary(len(written), sum(written.values()), time.perf_counter() - started, False,
                   out_dir)


def _readme(s: Settings) -> str:
    real = s.variant == "real"
    lines = [
        "# Bundled Coinbase candles (freqtrade feather format)",
        "",
        "Generated by `python -m trader247.datagen` (see `docs/pair-catalog.md` for the pairs, "
        "targets and regimes; `.datagen.json` records the seed, variant and files). Columns: "
        "date (UTC), open, high, low, close, volume (BASE units).",
        "",
    ]
    if real:
        lines += [
            "## Real candles",
            "",
            "`{BTC,ETH,SOL,ADA}_USD-{1h,15m}.feather` are real Coinbase spot candles, "
            "2024-04-18 -> 2025-06-30, copied byte for byte from `data/real/coinbase/`. "
            "Source: a public repository of a freqtrade user (saijayanth888/trading-bot, files "
            "under user_data/data/coinbase/), trimmed to that range; a few candles are missing "
            "(2-3 gaps per 15m file, none in the last 30 days), as in any real download. Their "
            "`-5m` files are synthesised from the real 15m candles by a bridge that keeps each "
            "15m candle's open/high/low/close exactly and splits its volume.",
            "",
            "Do not tune a strategy only to this period: judge it on data it was not tuned on as "
            "well (`--variant synthetic` or another `--seed`).",
            "",
        ]
    lines += [
        "## Generated candles",
        "",
        "Every other file is synthetic: a seeded regime-switching random walk (trend up, chop, "
        "trend down, one crash of about -30 % within 48 h), GARCH volatility clustering, "
        "intraday volume seasonality and a trailing-24h USD volume held around the catalog "
        "target. USDC pairs are the USD pair x ~1.0002, BTC-quoted pairs the ratio of two USD "
        "pairs with their own volume."
        + ("" if real else " In this synthetic variant the four real pairs are generated too, "
           "with the real candles' volatility and volume statistics."),
        "",
    ]
    return "\n".join(lines)
