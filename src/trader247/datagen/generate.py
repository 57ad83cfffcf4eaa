"""Builds and writes the bundled data set: a :class:`Generator` per :class:`Settings` (real
candles read; generated, stable and derived pairs built with ``datagen.model``) and
:func:`write_dataset` (files, README and manifest, skipped when the manifest matches).

The model itself (market factor, GARCH, volumes, the 5m bridge) is ``trader247.datagen.model``;
its public names are re-exported here, the one import for callers.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.feather as feather

from trader247.datagen.catalog import REAL_TIMEFRAMES, Pair, by_pair
from trader247.datagen.model import (
    CRASH_DEPTH,
    MARKET_VOL,
    PRICE_FLOOR,
    PRICE_MODELS,
    REGIME_NAMES,
    SYNTHETIC_REAL_WIGGLE,
    WARMUP_HOURS,
    Candles,
    FloatArray,
    IntArray,
    Market,
    PriceModel,
    add_wicks,
    ar1_noise,
    bridge,
    finish_candles,
    garch_variance,
    hourly_usd_volume,
    market_factor,
    pull_into_band,
    seeded_rng,
    student_t,
    trailing_usd_volume,
)
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
    "PRICE_MODELS",
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


@dataclass
class Generator:
    """Builds candles for one :class:`Settings`; results are cached per pair."""

    settings: Settings
    _market: Market | None = None
    _hourly: dict[str, Candles] = field(default_factory=dict)
    _fine: dict[str, Candles] = field(default_factory=dict)

    @property
    def market(self) -> Market:
        if self._market is None:
            self._market = market_factor(self.settings)
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
        fine_rng = seeded_rng(s.seed, pair.pair, "bridge")
        fine = bridge(hourly.between(s.fine_first_ms, s.fine_last_ms), 12, 5 * MINUTE_MS,
                      pair.price_tick, fine_rng)
        volume = pull_into_band(fine.volume, fine.close, pair.target_usd_volume,
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
        rng = seeded_rng(s.seed, pair.pair, "price")
        n = mkt.returns.shape[0]
        out = slice(n - s.hours, n)

        z = student_t(rng, n)
        idio_h = garch_variance(z)
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
        high, low = add_wicks(rng, open_, close, sigma[out])

        path = np.exp(np.cumsum(r))  # the price over warm-up + output hours
        usd = hourly_usd_volume(seeded_rng(s.seed, pair.pair, "volume"), s, r, sigma,
                                pair.target_usd_volume,
                                SYNTHETIC_REAL_WIGGLE if pair.source == "real" else pair.wiggle,
                                tight=pair.near_floor, price=path * close[0] / path[out.start])
        dates = s.start_ms + np.arange(s.hours, dtype=np.int64) * HOUR_MS
        return finish_candles(dates, open_, high, low, close, usd / close, pair.price_tick)

    def _stable(self, pair: Pair) -> Candles:
        """A USD stablecoin: 1.000 with basis-point noise and a small premium in the crash."""
        s, mkt = self.settings, self.market
        rng = seeded_rng(s.seed, pair.pair, "price")
        n = mkt.returns.shape[0]
        out = slice(n - s.hours, n)
        dev = 0.0003 * ar1_noise(rng, n, 24.0)
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
        usd = hourly_usd_volume(seeded_rng(s.seed, pair.pair, "volume"), s, r, sigma,
                                pair.target_usd_volume, pair.wiggle, tight=True, price=close)
        dates = s.start_ms + np.arange(s.hours, dtype=np.int64) * HOUR_MS
        return finish_candles(dates, o, high, low, c, usd / c, pair.price_tick)

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
        usd = hourly_usd_volume(seeded_rng(s.seed, pair.pair, "volume"), s, r_ext, sigma_ext,
                                pair.target_usd_volume, pair.wiggle, tight=False,
                                price=price_ext)
        return finish_candles(dates, o, h, low, c, usd / usd_price, pair.price_tick)

    def _derived_prices(self, pair: Pair, source: Callable[[str], Candles]
                        ) -> tuple[IntArray, tuple[FloatArray, ...], FloatArray]:
        """Dates, (open, high, low, close) and the base's USD price for a derived pair."""
        base = source(pair.parents[0])
        if pair.quote == "USDC":
            # X/USDC = X/USD x a factor wandering a few basis points around 1.0002, one value per
            # hour (5m candles use their hour's, so both timeframes agree); one factor per candle
            # keeps the candle's own OHLC ordering.
            s = self.settings
            rng = seeded_rng(s.seed, pair.pair, "peg")
            hourly_factor = np.clip(1.0002 + 0.00008 * ar1_noise(rng, s.hours, 24.0), 1.0, 1.0005)
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
            rng = seeded_rng(s.seed, pair.pair, "bridge")
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
        return finish_candles(dates, o, h, low, c, hourly.volume[hour] * share, pair.price_tick)


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
