"""The replayed market: candles, last price and 24 h statistics at any real time.

Prices are computed from the feed through the clock (see ``clock.py``), then multiplied by the
price scripts. Decisions:

- The newest candle is the one in progress: built from the finest timeframe the pair has at
  that moment (completed finer candles plus a linear interpolation from open to close inside
  the finer candle in progress). The last price (ticker, products, book) is that candle's close,
  so it moves continuously and agrees with every timeframe.
- 24 h statistics use the trailing 24 h of completed candles of the finest timeframe covering
  that window, and are cached per candle slot (they cannot change inside a slot). The quote
  volume is ``volume_24h x price`` (as Coinbase computes ``approximate_quote_24h_volume``), not
  a sum over candles, so it moves with the price.
- A ``<BASE>-USDC`` product is an alias of ``<BASE>-USD`` when both are in the data (as on
  Coinbase since 2023): prices, candles, volumes and the book are the USD product's; the USDC
  files are ignored.
- ``quote_increment`` is the decimal grid the data's prices lie on (real Coinbase candles keep
  their product's tick); data off any grid (synthetic random walks) gets a tick from the price
  level. ``base_increment`` is Coinbase's for the coins in ``BASE_INCREMENTS``, else derived
  from the USD price.
- A pair is listed only while its data has a candle in the trailing 7 days of data time, so a
  pair whose files start later appears as a new listing when the walk reaches them.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np

from trader247.replay.book import Ladder, auto_spread_bps, ladder
from trader247.replay.clock import ReplayClock, floor_to
from trader247.replay.feed import DAY, Candles, Feed, PairData, Series
from trader247.replay.names import USD_LIKE
from trader247.replay.pricescript import PriceScript, PriceScripts
from trader247.replay.state import ScenarioState

LISTING_LOOKBACK = 7 * DAY
_STATS_CACHE_MAX = 20_000


@dataclass(frozen=True)
class Candle:
    start: int  # real open time, UTC seconds
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True)
class Stats:
    volume_24h: float  # base units
    volume_prev_24h: float  # the 24 h before, for volume_percentage_change_24h
    open_24h: float | None  # price 24 h ago, for price_percentage_change_24h


@dataclass(frozen=True)
class ProductMeta:
    product_id: str
    base: str
    quote: str
    price_decimals: int
    size_decimals: int
    quote_increment: str
    base_increment: str
    quote_min_size: str
    quote_max_size: str
    base_min_size: str
    base_max_size: str


def decimals_of(increment: float) -> int:
    return max(0, -math.floor(math.log10(increment) + 1e-9))


def plain(value: float, significant: int = 3) -> str:
    """A round number in plain notation, as Coinbase prints size limits."""
    return format(Decimal(f"{value:.{significant}g}").normalize(), "f")


# Coinbase's base_increment of coins whose real product data we know (ccxt's recorded markets:
# BTC, ETH, ADA, XRP, DOGE; meme coins trade in whole units).
BASE_INCREMENTS: dict[str, float] = {
    "BTC": 1e-8, "ETH": 1e-8, "SOL": 1e-8, "LTC": 1e-8, "ADA": 0.01, "XRP": 1e-6, "DOGE": 0.1,
    "SHIB": 1.0, "BONK": 1.0, "PEPE": 1.0, "USDT": 0.01,
}
MAX_GRID_DECIMALS = 10

# Coinbase's size limits where ccxt recorded them, (base_max_size, quote_max_size) by product:
# BTC-USD and ETH-USD from the answers quoted in ccxt 4.5's coinbase.py (fetch_markets_v3,
# parse_ticker), the USDT products from ts/src/test/static/markets/coinbase.json (their info).
# Elsewhere quote_max_size is 150M USD and base_max_size what that buys at the first price (the
# recorded base limits are 1.3x-4x that), never a made-up round figure.
RECORDED_LIMITS: dict[str, tuple[str, str]] = {
    "BTC-USD": ("3400", "150000000"),
    "ETH-USD": ("42000", "150000000"),
    "BTC-USDT": ("400", "10000000"),
    "ETH-USDT": ("6200", "10000000"),
    "ADA-USDT": ("30224000", "10000000"),
    "XRP-USDT": ("11988060.178198761161369", "10000000"),
    "DOGE-USDT": ("142083900", "10000000"),
}
QUOTE_MAX_USD = 150_000_000


def increments(price_quote: float, price_usd: float | None) -> tuple[float, float]:
    """(quote_increment, base_increment) resembling Coinbase's for a price level."""
    quote_inc = min(0.01, 10.0 ** (math.floor(math.log10(price_quote)) - 4))
    usd = price_usd if price_usd else price_quote
    base_inc = min(1.0, max(1e-8, 10.0 ** math.floor(math.log10(1e-4 / usd))))
    return quote_inc, base_inc


def grid_decimals(values: np.ndarray) -> int | None:
    """Fewest decimals that put every value on a decimal grid, or None (no such grid)."""
    sample = values[np.isfinite(values) & (values > 0)]
    if not sample.shape[0]:
        return None
    for d in range(MAX_GRID_DECIMALS + 1):
        scaled = sample * 10.0**d
        # beyond ~10 significant digits float noise could pass for a grid
        if float(scaled.max()) >= 1e10:
            return None
        tolerance = np.maximum(1e-7, 1e-13 * scaled)
        if np.all(np.abs(scaled - np.round(scaled)) <= tolerance):
            return d
    return None


_EMPTY = np.zeros(0)
EMPTY_ROWS = Candles(_EMPTY.astype(np.int64), _EMPTY, _EMPTY, _EMPTY, _EMPTY, _EMPTY)


class ReplayMarket:
    """The replayed market: reads the feed through the clock, the scenario's price scripts and
    book shape through ``state``."""

    def __init__(self, feed: Feed, clock: ReplayClock, state: ScenarioState | None = None) -> None:
        self.feed = feed
        self.clock = clock
        self.state = state or ScenarioState()
        self.scripts = self.state.scripts
        self._lock = threading.Lock()
        self._stats: dict[tuple[str, int, int], Stats | None] = {}
        # product id -> (virtual open, open, close, timeframe) of the finest candle in progress
        self._anchors: dict[str, tuple[float, float, float, int]] = {}
        self._lap_scale = {pid: self._continuity_scale(pair) for pid, pair in feed.pairs.items()}
        # BTC-USDC -> BTC-USD: one book, shared price and volume (the USDC files are unused)
        self.alias: dict[str, str] = {
            pid: f"{pair.base}-USD" for pid, pair in feed.pairs.items()
            if pair.quote == "USDC" and f"{pair.base}-USD" in feed.pairs}
        self.alias_to: dict[str, list[str]] = {}
        for pid, target in sorted(self.alias.items()):
            self.alias_to.setdefault(target, []).append(pid)
        self.meta = {pid: self._meta(pair) for pid, pair in feed.pairs.items()
                     if pid not in self.alias}
        for pid, target in self.alias.items():
            self.meta[pid] = replace(self.meta[target], product_id=pid, quote="USDC")

    def source(self, product_id: str) -> str:
        """The product whose data a product shows (itself, or the USD book of a USDC alias)."""
        return self.alias.get(product_id, product_id)

    def _scripts(self, product_id: str) -> tuple[PriceScript, ...]:
        source = self.source(product_id)
        scripts = self.scripts.for_pair(source)
        if source != product_id:
            scripts += tuple(s for s in self.scripts.for_pair(product_id) if s.pair is not None)
        return scripts

    # -- time line -------------------------------------------------------------------------
    def _continuity_scale(self, pair: PairData) -> float:
        """Per-lap price factor: the first looped open continues from the last close."""
        best: float | None = None
        best_end = -math.inf
        for tf in pair.file_timeframes:
            s = pair.series[tf]
            i = int(np.searchsorted(s.ts, self.clock.loop_start, "left"))
            j = int(np.searchsorted(s.ts, self.clock.end, "left")) - 1
            if i < len(s) and j >= 0 and i <= j and s.ts[j] > best_end and s.open[i] > 0:
                best, best_end = float(s.close[j] / s.open[i]), float(s.ts[j])
        return best or 1.0

    def rows(self, pair: PairData, series: Series, v_from: float, v_to: float) -> Candles:
        """Candles whose virtual open time lies in ``[v_from, v_to]``."""
        if v_to < v_from:
            return EMPTY_ROWS
        clock = self.clock
        parts: list[Candles] = []
        for lap in range(clock.lap(v_from), clock.lap(v_to) + 1):
            lo, hi = clock.lap_bounds(lap)
            shift = 0 if lap == 0 else lap * clock.span
            p_lo = max(v_from, lo) - shift
            i = int(np.searchsorted(series.ts, p_lo, "left"))
            if v_to < hi:
                j = int(np.searchsorted(series.ts, v_to - shift, "right"))
            else:
                j = int(np.searchsorted(series.ts, hi - shift, "left"))
            if j <= i:
                continue
            scale = self._lap_scale[pair.product_id] ** lap if lap else 1.0
            sl = slice(i, j)
            parts.append(Candles(series.ts[sl] + int(shift), series.open[sl] * scale,
                              series.high[sl] * scale, series.low[sl] * scale,
                              series.close[sl] * scale, series.volume[sl]))
        if not parts:
            return EMPTY_ROWS
        if len(parts) == 1:
            return parts[0]
        return Candles(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                      ("ts", "open", "high", "low", "close", "volume")))

    def live_candle(self, pair: PairData, timeframe: int, v_open: int,
                    vt: float) -> tuple[float, float, float, float, float] | None:
        """The candle ``[v_open, v_open + timeframe)`` as seen at virtual time ``vt``."""
        for s in pair.finest_first():
            if s.timeframe > timeframe or timeframe % s.timeframe:
                continue
            r = self.rows(pair, s, v_open, vt)
            if not len(r):
                continue
            o, c = float(r.open[-1]), float(r.close[-1])
            if r.ts[-1] + s.timeframe > vt:  # the finer candle is itself in progress
                frac = (vt - float(r.ts[-1])) / s.timeframe
                last = o + (c - o) * frac
                hi_last, lo_last = max(o, last), min(o, last)
                vol_last = float(r.volume[-1]) * frac
            else:
                last, hi_last, lo_last, vol_last = c, float(r.high[-1]), float(r.low[-1]), float(
                    r.volume[-1])
            high, low, vol = hi_last, lo_last, vol_last
            if len(r) > 1:
                high = max(high, float(r.high[:-1].max()))
                low = min(low, float(r.low[:-1].min()))
                vol += float(r.volume[:-1].sum())
            return float(r.open[0]), high, low, last, vol
        return None

    # -- queries ---------------------------------------------------------------------------
    def candles(self, product_id: str, timeframe: int, start: float, end: float, now: float,
                limit: int = 300) -> list[Candle]:
        """Candles with real open time in ``[start, end]``, newest first, the oldest ``limit``."""
        pair = self.feed.pairs[self.source(product_id)]
        series = pair.series.get(timeframe)
        if series is None or limit <= 0:
            return []
        vt = self.clock.virtual(now)
        shift = self.clock.shift(timeframe, now)
        current = floor_to(now, timeframe)
        first = -floor_to(-start, timeframe)  # ceil
        # Paging forward from ``start`` like ccxt does (it asks for [since, since + 300 tf],
        # 301 slots): keep the oldest ``limit`` so consecutive pages neither gap nor overlap.
        last = min(floor_to(end, timeframe), current, first + (limit - 1) * timeframe)
        if last < first:
            return []
        done = self.rows(pair, series, first - shift, min(last, current - timeframe) - shift)
        starts = (done.ts + shift).tolist()
        values = list(zip(done.open.tolist(), done.high.tolist(), done.low.tolist(),
                          done.close.tolist(), done.volume.tolist(), strict=True))
        if last == current:
            live = self.live_candle(pair, timeframe, current - shift, vt)
            if live is not None:
                starts.append(current)
                values.append(live)
        scripts = self._scripts(product_id)
        out: list[Candle] = []
        for ts, (o, h, lo, c, v) in zip(reversed(starts), reversed(values), strict=True):
            if scripts:
                a, b = ts - self.clock.t0, min(ts + timeframe, now) - self.clock.t0
                m_lo, m_hi = PriceScripts.extremes(scripts, a, b)
                o *= PriceScripts.multiplier(scripts, a)
                c *= PriceScripts.multiplier(scripts, b)
                h, lo = h * m_hi, lo * m_lo
            out.append(Candle(int(ts), o, h, lo, c, v))
        return out

    def _raw_price(self, pair: PairData, vt: float) -> float | None:
        # The candle in progress is looked up once per candle, not per request: a products
        # call prices every pair.
        anchor = self._anchors.get(pair.product_id)
        if anchor is None or not anchor[0] <= vt < anchor[0] + anchor[3]:
            anchor = self._find_anchor(pair, vt)
            if anchor is not None:
                self._anchors[pair.product_id] = anchor
        if anchor is not None:
            ts, o, c, tf = anchor
            return o + (c - o) * (vt - ts) / tf
        return self._last_close(pair, vt)

    def _find_anchor(self, pair: PairData, vt: float) -> tuple[float, float, float, int] | None:
        for s in pair.finest_first():
            r = self.rows(pair, s, vt - s.timeframe + 1e-6, vt)
            if len(r):
                return float(r.ts[-1]), float(r.open[-1]), float(r.close[-1]), s.timeframe
        return None

    def _last_close(self, pair: PairData, vt: float) -> float | None:
        """A gap in the data: the newest close within the listing look-back."""
        best: tuple[float, float] | None = None
        for s in pair.finest_first():
            r = self.rows(pair, s, vt - LISTING_LOOKBACK, vt)
            if len(r) and (best is None or r.ts[-1] + s.timeframe > best[0]):
                best = (float(r.ts[-1] + s.timeframe), float(r.close[-1]))
        return None if best is None else best[1]

    def price(self, product_id: str, now: float) -> float | None:
        """Last traded price now, or None while the pair is not listed."""
        pair = self.feed.pairs[self.source(product_id)]
        raw = self._raw_price(pair, self.clock.virtual(now))
        if raw is None:
            return None
        scripts = self._scripts(product_id)
        if scripts:
            raw *= PriceScripts.multiplier(scripts, now - self.clock.t0)
        return raw

    def stats(self, product_id: str, now: float) -> Stats:
        """Trailing 24 h volume (base units) and the price 24 h ago."""
        pair = self.feed.pairs[self.source(product_id)]
        vt = self.clock.virtual(now)
        scripts = self._scripts(product_id)
        for s in pair.finest_first():
            slot = floor_to(vt, s.timeframe)
            key = (product_id, s.timeframe, slot)
            with self._lock:
                found = key in self._stats
                cached = self._stats.get(key)
            if not found:
                cached = self._compute_stats(pair, s, slot)
                with self._lock:
                    if len(self._stats) > _STATS_CACHE_MAX:
                        self._stats.clear()
                    self._stats[key] = cached
            if cached is None:
                continue
            if not scripts:
                return cached
            rel = now - self.clock.t0
            m_then = PriceScripts.multiplier(scripts, rel - DAY / self.clock.speed)
            open_24h = None if cached.open_24h is None else cached.open_24h * m_then
            return Stats(cached.volume_24h, cached.volume_prev_24h, open_24h)
        return Stats(0.0, 0.0, None)

    def _compute_stats(self, pair: PairData, s: Series, slot: int) -> Stats | None:
        window = self.rows(pair, s, slot - DAY, slot - s.timeframe)
        # a finer file that covers less than half the window (e.g. the 30-day 5m files before
        # their start) would understate the volume: use a coarser timeframe instead
        if len(window) * s.timeframe * 2 < DAY:
            return None
        prev = self.rows(pair, s, slot - 2 * DAY, slot - DAY - s.timeframe)
        return Stats(
            volume_24h=float(window.volume.sum()),
            volume_prev_24h=float(prev.volume.sum()),
            open_24h=float(window.open[0]),
        )

    def quote_volume(self, product_id: str, now: float) -> float:
        """Coinbase's ``approximate_quote_24h_volume``: 24 h base volume x the price now."""
        return self.stats(product_id, now).volume_24h * (self.price(product_id, now) or 0.0)

    def usd_price(self, code: str, now: float) -> float | None:
        """USD value of one unit of ``code`` from the replayed pairs."""
        if code == "USD":
            return 1.0
        for quote in ("USD", "USDC", "USDT"):
            pid = f"{code}-{quote}"
            if pid in self.feed.pairs:
                price = self.price(pid, now)
                if price is not None:
                    return price
        if code in USD_LIKE:
            return 1.0
        pid = f"{code}-BTC"
        if pid in self.feed.pairs:
            btc = self.usd_price("BTC", now)
            price = self.price(pid, now)
            if btc is not None and price is not None:
                return price * btc
        return None

    def listed(self, now: float) -> list[str]:
        return [pid for pid in self.feed.pairs if self.price(pid, now) is not None]

    def ladder(self, product_id: str, now: float, limit: int | None = None) -> Ladder | None:
        """The order book now (``limit`` levels a side), None while the pair is not listed.

        The public book and the matching engine both read it. An alias without a shape of its
        own has its USD book's shape (it is the same book).
        """
        price = self.price(product_id, now)
        if price is None:
            return None
        meta = self.meta[product_id]
        shape = self.state.book_shape(product_id)
        if shape.spread_bps is None and self.source(product_id) != product_id:
            shape = self.state.book_shape(self.source(product_id))
        quote_volume = self.quote_volume(product_id, now)
        spread = shape.spread_bps
        if spread is None:
            spread = auto_spread_bps(quote_volume * (self.usd_price(meta.quote, now) or 0.0))
        level_quote = (shape.level_quote_size if shape.level_quote_size is not None
                       else max(100.0, quote_volume / 20_000))
        depth = shape.depth_levels if not limit else min(limit, shape.depth_levels)
        return ladder(price, price_decimals=meta.price_decimals,
                      size_decimals=meta.size_decimals, spread_bps=spread,
                      step_bps=shape.step_bps, depth=depth, level_quote=level_quote)

    def segments(self, product_id: str, t0: float, t1: float,
                 max_segments: int = 2000) -> list[tuple[float, float, float]]:
        """The price path and traded volume between real times ``t0`` and ``t1``.

        ``(p0, p1, volume)`` per piece: the served price is linear inside each candle of the
        finest timeframe (see ``_raw_price``) and a candle's volume trades evenly over it, so
        one piece per candle (or part of one) describes the path exactly. A very long gap is
        cut to its last ``max_segments`` candles.
        """
        if t1 <= t0:
            return []
        pair = self.feed.pairs[self.source(product_id)]
        v0, v1 = self.clock.virtual(t0), self.clock.virtual(t1)
        scripts = self._scripts(product_id)
        for s in pair.finest_first():
            rows = self.rows(pair, s, v0 - s.timeframe + 1e-6, v1)
            if not len(rows):
                continue
            start = max(0, len(rows) - max_segments)
            out: list[tuple[float, float, float]] = []
            for i in range(start, len(rows)):
                ts, o, c = float(rows.ts[i]), float(rows.open[i]), float(rows.close[i])
                a, b = max(ts, v0), min(ts + s.timeframe, v1)
                if b <= a:
                    continue
                pa = o + (c - o) * (a - ts) / s.timeframe
                pb = o + (c - o) * (b - ts) / s.timeframe
                if scripts:
                    ra = t0 + (a - v0) / self.clock.speed - self.clock.t0
                    rb = t0 + (b - v0) / self.clock.speed - self.clock.t0
                    pa *= PriceScripts.multiplier(scripts, ra)
                    pb *= PriceScripts.multiplier(scripts, rb)
                out.append((pa, pb, float(rows.volume[i]) * (b - a) / s.timeframe))
            return out
        return []

    # -- static product data ---------------------------------------------------------------
    def _first_price(self, pair: PairData) -> float:
        price = self._raw_price(pair, self.clock.start)
        if price is None:  # not listed at start: size it on the first candle it will show
            s = pair.finest_first()[-1]
            i = min(int(np.searchsorted(s.ts, self.clock.start)), len(s) - 1)
            price = float(s.close[i])
        return price if price > 0 else 1.0

    def _meta(self, pair: PairData) -> ProductMeta:
        price = self._first_price(pair)
        quote_usd: float | None
        if pair.quote in USD_LIKE:
            quote_usd = 1.0
        else:
            other = self.feed.pairs.get(f"{pair.quote}-USD")
            quote_usd = self._first_price(other) if other else None
        quote_inc, base_inc = increments(price, price * quote_usd if quote_usd else None)
        files = [pair.series[tf] for tf in sorted(pair.file_timeframes)]
        grid = grid_decimals(np.concatenate([np.r_[s.close[-3000:], s.low[-3000:]]
                                             for s in files]))
        if grid is not None:
            quote_inc = 10.0**-grid
        base_inc = BASE_INCREMENTS.get(pair.base, base_inc)
        per_usd = 1.0 / quote_usd if quote_usd else 1.0
        price_usd = price * (quote_usd or 1.0)
        base_max, quote_max = RECORDED_LIMITS.get(pair.product_id, (
            plain(QUOTE_MAX_USD / price_usd, 2), plain(QUOTE_MAX_USD * per_usd, 2)))
        return ProductMeta(
            product_id=pair.product_id,
            base=pair.base,
            quote=pair.quote,
            price_decimals=decimals_of(quote_inc),
            size_decimals=decimals_of(base_inc),
            quote_increment=f"{quote_inc:.{decimals_of(quote_inc)}f}",
            base_increment=f"{base_inc:.{decimals_of(base_inc)}f}",
            quote_min_size=plain(1.0 * per_usd, 2),
            quote_max_size=quote_max,
            base_min_size=f"{base_inc:.{decimals_of(base_inc)}f}",
            base_max_size=base_max,
        )
