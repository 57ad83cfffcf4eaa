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

import zlib
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from trader247.datagen.settings import HOUR_MS, Settings

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


def seeded_rng(seed: int, *key: str) -> np.random.Generator:
    # crc32 rather than hash(): str hashes are salted per process, which would break determinism.
    words = [seed & 0xFFFFFFFF, *(zlib.crc32(k.encode()) for k in key)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))


def student_t(rng: np.random.Generator, n: int) -> FloatArray:
    """Unit-variance Student-t shocks, clipped so one draw cannot produce an absurd candle."""
    z = rng.standard_t(STUDENT_DF, n) / np.sqrt(STUDENT_DF / (STUDENT_DF - 2.0))
    return np.asarray(np.clip(z, -6.0, 6.0), dtype=np.float64)


def garch_variance(z: FloatArray) -> FloatArray:
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


def ar1_noise(rng: np.random.Generator, n: int, memory_hours: float) -> FloatArray:
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
class Market:
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


def market_factor(s: Settings) -> Market:
    rng = seeded_rng(s.seed, "market", "regimes")
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

    z = student_t(seeded_rng(s.seed, "market", "shocks"), n)
    hours = _hour_of_day(s.start_ms - WARMUP_HOURS * HOUR_MS, n)
    sigma = MARKET_VOL * vol_mult * VOLATILITY_SEASONALITY[hours] * np.sqrt(garch_variance(z))
    return Market(drift + sigma * z, sigma, vol_mult, regime, (first, first + crash_len))


# ---------------------------------------------------------------------------------------------
# one generated pair


def add_wicks(rng: np.random.Generator, o: FloatArray, c: FloatArray,
              sigma: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Highs/lows beyond the body: exponential wicks scaled by the candle's volatility.

    0.3 sigma per side makes the mean high-low range ~1.4 sigma, as measured on the real candles.
    """
    up = sigma * 0.3 * rng.standard_exponential(o.shape[0])
    down = sigma * 0.3 * rng.standard_exponential(o.shape[0])
    return np.maximum(o, c) * np.exp(up), np.minimum(o, c) * np.exp(-down)


def finish_candles(date_ms: IntArray, o: FloatArray, h: FloatArray, low: FloatArray,
                   c: FloatArray, volume: FloatArray, tick: float) -> Candles:
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


def hourly_usd_volume(rng: np.random.Generator, s: Settings, returns: FloatArray,
                      sigma: FloatArray, target: float, wiggle: float, tight: bool,
                      price: FloatArray) -> FloatArray:
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
    level = ar1_noise(rng, n, 72.0)
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
    base = pull_into_band(base, price, target, 0.97 * wiggle, window=24)
    return np.asarray((base * price)[out], dtype=np.float64)


def pull_into_band(volume: FloatArray, price: FloatArray, target: float, band: float,
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
