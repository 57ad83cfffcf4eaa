"""Data plumbing of Trader247Strategy: higher-timeframe candles, their merge onto the strategy's
candles, the market (BTC) regime and trend, point-in-time eligibility, and the history the
signals need before the first entry.

Pure: DataFrames in, columns out (no freqtrade). The strategy fetches candles from freqtrade's
data provider and hands them here.

Decisions:
- The regime and every trend column come from the higher timeframe (1h, or the strategy's own
  when longer). A higher candle is visible from the base candle that closes it on, as with
  freqtrade's ``merge_informative_pair`` (:func:`trader247.core.resample.closed_index`): one
  ``searchsorted`` per frame instead of a merge per pair.
- Without higher-timeframe candles (only ``download-data -t 5m`` done) they are built from the
  base candles, closed hours only (:func:`trader247.core.resample.resample_closed`).
- The market's regime and trend are computed once per new market candle (:class:`MarketCache`),
  not once per pair: with 173 pairs that was most of an iteration.
- History: freqtrade loads ``startup_candle_count`` candles of EVERY timeframe before the
  range, so the count must cover both the base indicators (in base candles) and the trend mean
  (in higher candles): :func:`history_need`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trader247.core.resample import closed_index, resample_closed
from trader247.core.scaling import MOMENTUM_RANK, VOLATILITY, momentum_ranks, volatility_pct
from trader247.core.signals import Regime, SignalParams, regime
from trader247.core.symbols import asset_of
from trader247.core.trend import market_column, market_up, trend_column, trend_indicators
from trader247.core.universe import UniverseRules
from trader247.core.universe_series import eligible_series, rolling_usd_volume

__all__ = [
    "Fetch",
    "Frames",
    "Note",
    "PairData",
    "SourcePairs",
    "HistoryNeed",
    "MarketCache",
    "eligibility",
    "first_entry",
    "force_eligible_assets",
    "higher_candles",
    "history_need",
    "merge_market",
    "merge_trend",
    "missing_candles",
    "quote_to_usd",
    "short_data_warning",
    "source_pairs",
]


@dataclass(frozen=True)
class Frames:
    """The strategy's (base) timeframe and the regime / trend (higher) timeframe, in minutes."""

    base: str
    base_minutes: int
    higher: str
    higher_minutes: int

    @property
    def same(self) -> bool:
        return self.base_minutes == self.higher_minutes

    def rows(self, base_dates: pd.Series, higher_dates: pd.Series) -> np.ndarray:
        """Row of the higher frame closed by each base candle (-1: none yet)."""
        return closed_index(base_dates, self.base_minutes, higher_dates, self.higher_minutes)


def higher_candles(own: pd.DataFrame, base: pd.DataFrame, frames: Frames
                   ) -> tuple[pd.DataFrame, bool]:
    """``own`` (the higher-timeframe candles on hand) or, when it is empty, candles built from
    ``base``; the flag says they were built."""
    if frames.same:
        return base, False
    if own.empty and not base.empty:
        return resample_closed(base, frames.base_minutes, frames.higher_minutes), True
    return own, False


def _on_base(df: pd.DataFrame, higher: pd.DataFrame, values: np.ndarray, frames: Frames,
             fill: Any) -> np.ndarray:
    """``values`` (one row per higher candle, 1-D or 2-D) spread onto ``df``'s candles."""
    if higher is df:
        return values
    rows = frames.rows(df["date"], higher["date"])
    if len(values) == 0:
        return np.full((len(df), *values.shape[1:]), fill, dtype=values.dtype)
    out: np.ndarray = values[np.maximum(rows, 0)]  # fancy indexing: already a copy
    out[rows < 0] = fill
    return out


def merge_trend(df: pd.DataFrame, higher: pd.DataFrame, frames: Frames,
                ma_hours: tuple[float, ...], momentum_hours: float) -> pd.DataFrame:
    """``df`` with the pair's trend means and momentum from its closed ``higher`` candles."""
    columns = trend_indicators(higher["close"], 60.0 / frames.higher_minutes, ma_hours,
                               momentum_hours)
    values = _on_base(df, higher, columns.to_numpy(dtype="float64"), frames, np.nan)
    for i, name in enumerate(columns.columns):
        df[name] = values[:, i]
    return df


@dataclass
class MarketCache:
    """The market's regime and trend columns per source pair, recomputed only when the source
    has a new candle (key: number of candles and the last date)."""

    params: SignalParams
    ma_hours: tuple[float, ...]
    _frames: dict[str, tuple[tuple[int, Any], pd.DataFrame]] = field(default_factory=dict)

    def frame(self, source: str, candles: pd.DataFrame) -> pd.DataFrame:
        key = (len(candles), candles["date"].iat[-1] if len(candles) else None)
        cached = self._frames.get(source)
        if cached is None or cached[0] != key:
            frame = market_up(candles["close"], self.params.candles_per_hour, self.ma_hours)
            frame.insert(0, "regime", regime(candles["close"], self.params).to_numpy())
            cached = self._frames[source] = (key, frame)
        return cached[1]


def merge_market(df: pd.DataFrame, higher: pd.DataFrame, market: pd.DataFrame, frames: Frames
                 ) -> pd.DataFrame:
    """``df`` with the market's ``regime`` and ``market_up_*`` columns (:class:`MarketCache`
    frame of the ``higher`` candles); no candle closed yet: regime ``unknown``, trend NaN.
    Empty ``higher``: regime ``unknown`` everywhere (no entries)."""
    if higher.empty:
        df["regime"] = Regime.UNKNOWN.value
        for name in market.columns.drop("regime"):
            df[name] = np.nan
        return df
    labels = market["regime"].to_numpy(dtype=object)
    df["regime"] = _on_base(df, higher, labels, frames, Regime.UNKNOWN.value)
    trend = market.drop(columns="regime")
    values = _on_base(df, higher, trend.to_numpy(dtype="float64"), frames, np.nan)
    for i, name in enumerate(trend.columns):
        df[name] = values[:, i]
    return df


def quote_to_usd(df: pd.DataFrame, usd: pd.DataFrame | None) -> float | np.ndarray:
    """USD value of one unit of the quote per candle of ``df``: the close of ``usd`` (the
    ``<quote>/USD`` candles) at the same date; NaN without them; 1.0 when ``usd`` is None (a USD
    or pegged quote)."""
    if usd is None:
        return 1.0
    if usd.empty:
        return float("nan")
    merged = df[["date"]].merge(usd[["date", "close"]], on="date", how="left")
    return np.asarray(merged["close"].to_numpy(), dtype="float64")


def eligibility(df: pd.DataFrame, pair: str, rules: UniverseRules, window: int,
                quote_usd: float | np.ndarray) -> pd.DataFrame:
    """``df`` with ``usd_volume_24h`` (trailing ``window`` candles) and ``eligible`` (the live
    universe rules replayed candle by candle)."""
    df["usd_volume_24h"] = rolling_usd_volume(df["close"], df["volume"], window, quote_usd)
    df["eligible"] = eligible_series(pair, df["usd_volume_24h"], rules)
    return df


def force_eligible_assets(rules: UniverseRules) -> tuple[str, ...]:
    """Base assets of every force-eligible symbol, sorted (``ETH-USD`` forces ETH/BTC too)."""
    return tuple(sorted({asset_of(sym) for tier in rules.tiers
                         for sym in tier.force_eligible}))


# --------------------------------------------------------------------------- history


@dataclass(frozen=True)
class HistoryNeed:
    """History the signals need before the first entry is possible."""

    frames: Frames
    base_candles: int  # the base-timeframe indicators (triggers, 24 h volume)
    higher_candles: int  # trend mean, momentum, regime on the higher timeframe

    @property
    def hours(self) -> float:
        return max(self.base_candles * self.frames.base_minutes,
                   self.higher_candles * self.frames.higher_minutes) / 60.0

    @property
    def days(self) -> int:
        return math.ceil(self.hours / 24.0)

    @property
    def startup_candles(self) -> int:
        """freqtrade's ``startup_candle_count``: it loads that many candles of every timeframe,
        so the higher timeframe's need counts in its own candles."""
        return max(self.base_candles, self.higher_candles)

    def describe(self) -> str:
        base = f"{self.base_candles} {self.frames.base} candles"
        if self.frames.same:
            return f"{self.hours:g} h of history before the first entry ({base})"
        return (f"{self.hours:g} h of history before the first entry ({self.higher_candles} "
                f"{self.frames.higher} candles for the trend and regime, {base} for the "
                f"{self.frames.base} indicators; startup_candle_count {self.startup_candles})")


def history_need(frames: Frames, base: SignalParams, higher: SignalParams,
                 ma_hours: tuple[float, ...], momentum_hours: float, *, triggers: bool
                 ) -> HistoryNeed:
    """Candles each timeframe needs: the base indicators (the triggers only when they are
    computed) and the 24 h volume on the base timeframe; the longest trend mean, the momentum
    and the regime on the higher one."""
    base_needs = [base.candles(24) + 1]
    if triggers:
        base_needs.append(base.warmup_candles(include_regime=False))
    higher_needs = [higher.regime_warmup_candles(), higher.candles(momentum_hours) + 1,
                    *(higher.candles(h) for h in ma_hours)]
    if frames.same:
        return HistoryNeed(frames, max(base_needs + higher_needs), max(base_needs + higher_needs))
    return HistoryNeed(frames, max(base_needs), max(higher_needs))


def first_entry(df: pd.DataFrame, trend_ma: str) -> pd.Timestamp | None:
    """Date of the first candle with every entry input known (trend mean and regime), None if
    there is none."""
    known = df[trend_ma].notna() & (df["regime"] != Regime.UNKNOWN.value)
    if not known.any():
        return None
    first: pd.Timestamp = df["date"][known].iat[0]
    return first


def missing_candles(pair: str, frames: Frames, file: object, exchange: str) -> str:
    """The start-up error when ``pair``'s ``frames.higher`` candles are neither on disk (``file``)
    nor buildable from base candles."""
    timeframes = " ".join(dict.fromkeys([frames.higher, frames.base]))
    return (f"Trader247Strategy: no {pair} {frames.higher} candles ({file} is missing"
            + ("" if frames.same else f", and no {frames.base} candles to build them from")
            + f"): run `freqtrade download-data --exchange {exchange} --pairs {pair} "
            f"--timeframes {timeframes}`")


def short_data_warning(pair: str, df: pd.DataFrame, need: HistoryNeed, exchange: str,
                       pairs: list[str]) -> str:
    """The one WARNING when ``df`` (a pair's candles) is too short for any entry: what it holds,
    what the signals need, and the ``freqtrade download-data`` command that covers both."""
    span = df["date"].iat[-1] - df["date"].iat[0] if len(df) else pd.Timedelta(0)
    held_hours = span / pd.Timedelta(hours=1) + need.frames.base_minutes / 60.0
    days = need.days + math.ceil(held_hours / 24.0) + 1
    timeframes = " ".join(dict.fromkeys([need.frames.base, need.frames.higher]))
    return (f"Trader247Strategy: {pair} has {held_hours:g} h of candles"
            + (f" ({df['date'].iat[0]:%Y-%m-%d %H:%M} .. {df['date'].iat[-1]:%Y-%m-%d %H:%M})"
               if len(df) else "")
            + f", shorter than the {need.hours:g} h the signals need before the first entry: "
            f"no entry is possible (a backtest ends with \"No trades made\"). Run `freqtrade "
            f"download-data --exchange {exchange} --pairs {' '.join(pairs)} --timeframes "
            f"{timeframes} --days {days}` (or a --timerange starting {need.days} days earlier)")


# --------------------------------------------------------------------------- one pair's columns


@dataclass(frozen=True)
class Note:
    """A log line for the adapter: ``key`` identifies it, so it is logged once per run."""

    key: str
    warning: bool
    text: str


@dataclass(frozen=True)
class SourcePairs:
    """Where the data of every pair's signals come from (see :class:`PairData`)."""

    regime: str | None
    market: str | None
    usd: str | None
    quote_is_usd: bool

    def notes(self, stake: str, frames: Frames, rules: UniverseRules, exchange: str
              ) -> list[Note]:
        """The start-up lines: where the regime comes from; without ``<stake>/USD`` candles a
        WARNING (only force-eligible assets can be eligible) with the download command."""
        regime = (f"BTC/{stake} {frames.higher}" if self.regime else
                  f"each pair's own {frames.higher} candles (BTC/{stake} does not exist)")
        out = [Note("regime", False, f"Trader247Strategy: market regime from {regime}")]
        if not self.quote_is_usd and self.usd is None:
            forced = ", ".join(force_eligible_assets(rules)) or "none"
            out.append(Note("usd", True, (
                f"Trader247Strategy: no {stake}/USD candles: USD volumes of {stake} pairs are "
                f"unknown, so only force-eligible assets ({forced}, any quote) are eligible in "
                f"backtests; run `freqtrade download-data --exchange {exchange} --pairs "
                f"{stake}/USD --timeframes {frames.base}`")))
        return out


def source_pairs(stake: str, pegged: frozenset[str], listed: Callable[[str], bool],
                 available: Callable[[str, str], bool], frames: Frames) -> SourcePairs:
    """The regime from BTC/<stake> when listed (else each pair's own candles); the market
    filter from BTC/<stake>, else BTC/USD when its candles are available; ``<stake>/USD`` for
    USD volumes when the stake is neither USD nor ``pegged`` and its candles are available."""
    btc = f"BTC/{stake}"
    regime_pair = btc if listed(btc) else None
    market = regime_pair or ("BTC/USD" if listed("BTC/USD") and available(
        "BTC/USD", frames.higher) else None)
    quote_is_usd = stake == "USD" or stake in pegged
    usd = f"{stake}/USD"
    has_usd = not quote_is_usd and listed(usd) and available(usd, frames.base)
    return SourcePairs(regime_pair, market, usd if has_usd else None, quote_is_usd)

Fetch = Callable[[str, str], pd.DataFrame]
"""(pair, timeframe) -> candles on hand (freqtrade's ``dp.get_pair_dataframe``); empty if none."""


@dataclass
class PairData:
    """Every data column Trader247Strategy's signals read, for one pair at a time.

    ``sources.regime``: BTC/<stake> (None: each pair's own candles); ``sources.market``: the
    pair whose trend is the market filter (None: the pair's own); ``sources.usd``:
    ``<stake>/USD`` for volumes in USD when the stake is neither USD nor pegged; None there:
    USD volume unknown, only force-eligible pairs pass. ``volatility_hours`` > 0: the pair's
    volatility column; ``top_n`` > 0: its momentum rank among the whitelist (both
    ``trader247.core.scaling``, from the higher timeframe).
    """

    frames: Frames
    market: MarketCache
    rules: UniverseRules
    momentum_hours: float
    volume_window: int
    sources: SourcePairs
    volatility_hours: float
    top_n: int
    _ranks: dict[tuple[Any, ...], pd.DataFrame] = field(default_factory=dict, repr=False)

    def columns(self, df: pd.DataFrame, pair: str, fetch: Fetch,
                universe: Callable[[], Sequence[str]]) -> tuple[pd.DataFrame, list[Note]]:
        """``df`` (the pair's base candles) with regime, market trend, trend means, momentum,
        24 h USD volume and eligibility (and volatility, momentum rank when on); plus the notes
        to log. ``universe``: the whitelist, asked only for the momentum rank."""
        notes: list[Note] = []
        source = self.sources.regime or pair
        candles = self._higher(source, pair, df, fetch, notes)
        if candles.empty:
            notes.append(Note(f"none {source}", True, f"Trader247Strategy: no {source} "
                              f"{self.frames.higher} candles: regime unknown, no entries"))
        df = merge_market(df, candles, self.market.frame(source, candles), self.frames)
        market = self.sources.market or pair
        if market != source:  # stake BTC: the regime from the pair, the trend from BTC/USD
            other = self._higher(market, pair, df, fetch, notes)
            trend = merge_market(df[["date"]].copy(), other, self.market.frame(market, other),
                                 self.frames)
            for h in self.market.ma_hours:
                df[market_column(h)] = trend[market_column(h)].to_numpy()
        own = self._higher(pair, pair, df, fetch, notes)
        df = merge_trend(df, own, self.frames, self.market.ma_hours, self.momentum_hours)
        per_hour = 60.0 / self.frames.higher_minutes
        if self.volatility_hours > 0:
            volatility = volatility_pct(own["close"], per_hour, self.volatility_hours)
            df[VOLATILITY] = _on_base(df, own, volatility.to_numpy(), self.frames, np.nan)
        if self.top_n > 0:
            ranks = self._cross_ranks(pair, own, universe(), fetch, notes)
            rank = ranks[pair].reindex(own["date"].to_numpy()).to_numpy(dtype="float64")
            df[MOMENTUM_RANK] = _on_base(df, own, rank, self.frames, np.nan)
        usd_pair = self.sources.usd
        usd = None if self.sources.quote_is_usd else (
            fetch(usd_pair, self.frames.base) if usd_pair else pd.DataFrame())
        return eligibility(df, pair, self.rules, self.volume_window, quote_to_usd(df, usd)), notes

    def _cross_ranks(self, pair: str, own: pd.DataFrame, universe: Sequence[str], fetch: Fetch,
                     notes: list[Note]) -> pd.DataFrame:
        """Momentum ranks of every whitelist pair (and ``pair``) per higher-timeframe date,
        computed once per new candle set, not once per pair. Trailing returns only: a rank at a
        date uses no later candle of any pair."""
        pairs = list(dict.fromkeys([*universe, pair]))
        candles = {p: own if p == pair else self._higher(p, pair, own, fetch, notes)
                   for p in pairs}
        key = tuple((p, len(c), c["date"].iat[-1] if len(c) else None)
                    for p, c in candles.items())
        if key not in self._ranks:
            per_hour = 60.0 / self.frames.higher_minutes
            momenta = {p: pd.Series(trend_indicators(c["close"], per_hour, (), self.momentum_hours)
                                    ["trend_momentum"].to_numpy(), index=c["date"].to_numpy())
                       for p, c in candles.items()}
            self._ranks.clear()  # only the latest candle set is asked for again
            self._ranks[key] = momentum_ranks(pd.DataFrame(momenta))
        return self._ranks[key]

    def _higher(self, source: str, pair: str, df: pd.DataFrame, fetch: Fetch,
                notes: list[Note]) -> pd.DataFrame:
        if self.frames.same and source == pair:
            return df
        base = df if source == pair else fetch(source, self.frames.base)
        candles, built = higher_candles(fetch(source, self.frames.higher), base, self.frames)
        if built:
            notes.append(Note(f"built {source}", False, f"Trader247Strategy: {source} "
                              f"{self.frames.higher} candles built from {self.frames.base} "
                              "candles"))
        return candles

    def history_note(self, df: pd.DataFrame, pair: str, ma_hours: float, need: HistoryNeed,
                     start: pd.Timestamp | None, exchange: str,
                     pairs: Callable[[], list[str]]) -> Note:
        """Where the first entry is possible in this backtest (``start``: its first candle), or
        the WARNING that it never is with these candles (``pairs``: for its download command,
        asked only then)."""
        first = first_entry(df, trend_column(ma_hours))
        if first is None:
            return Note("short", True, short_data_warning(pair, df, need, exchange, pairs()))
        if start is not None:
            first = max(first, start)
        return Note("first", False, "Trader247Strategy: first candle at which an entry is "
                    f"possible: {first:%Y-%m-%d %H:%M} ({pair}; the signals need "
                    f"{need.hours:g} h of history)")
