"""Loading freqtrade OHLCV files into compact per-pair, per-timeframe arrays.

Files follow freqtrade's layout: ``<BASE>_<QUOTE>-<tf>.feather`` (or ``.json``), columns
``date`` (UTC), open, high, low, close, volume (base units). Every Coinbase granularity that has
no file is derived from the finest file that divides it, so a 1h file also serves 2h/6h/1d.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
}
# The granularities the Advanced Trade candles endpoint accepts.
GRANULARITIES: dict[str, int] = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "FOUR_HOUR": 14400,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
DAY = 86400
_FILE_RE = re.compile(
    r"^(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z0-9]+)-(?P<tf>\d+[mhd])\.(?P<ext>feather|json)$")


class FeedError(Exception):
    """Bad input data: the message names the directory or file and is shown as is."""


@dataclass(frozen=True)
class Candles:
    """OHLCV columns, a candle a row, sorted by open time (UTC seconds): a :class:`Series` as
    read, or the market's rows on the virtual time line (open times shifted for the lap)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.ts.shape[0])


@dataclass(frozen=True)
class Series(Candles):
    """One pair's candles at one timeframe, as read from ``source``."""

    timeframe: int = field(kw_only=True)
    source: str = field(kw_only=True)

    @property
    def first(self) -> int:
        return int(self.ts[0])

    @property
    def end(self) -> int:
        """Close time of the newest candle."""
        return int(self.ts[-1]) + self.timeframe


@dataclass
class PairData:
    base: str
    quote: str
    # timeframe seconds -> series; files and derived series alike
    series: dict[int, Series] = field(default_factory=dict)
    file_timeframes: set[int] = field(default_factory=set)

    @property
    def symbol(self) -> str:
        return f"{self.base}/{self.quote}"

    @property
    def product_id(self) -> str:
        return f"{self.base}-{self.quote}"

    def finest_first(self) -> list[Series]:
        return [self.series[tf] for tf in sorted(self.series)]


@dataclass
class Feed:
    data_dir: Path
    pairs: dict[str, PairData]  # keyed by product id ("BTC-USD")

    @property
    def end(self) -> int:
        """Close time of the newest file candle (derived ones may overhang a partial day)."""
        return max(p.series[tf].end for p in self.pairs.values() for tf in p.file_timeframes)

    def history_start(self, candles: int) -> int:
        """Earliest data time that leaves ``candles`` candles of every file behind it.

        A file shorter than that contributes its newest candle, so a huge value puts the walk
        at the end of the data (within its last two days, see ``ReplayClock``).
        """
        return max(
            min(s.first + candles * s.timeframe, int(s.ts[-1]))
            for p in self.pairs.values() for s in (p.series[tf] for tf in p.file_timeframes)
        )


def timeframe_seconds(timeframe: str) -> int:
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except KeyError:
        known = ", ".join(TIMEFRAME_SECONDS)
        raise FeedError(f"unknown timeframe {timeframe!r} (known: {known})") from None


def _from_columns(tf: int, raw: dict[str, np.ndarray], source: str) -> Series:
    ts = raw["date"].astype(np.int64)
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    # freqtrade appends when it refreshes files; the newest duplicate wins, like its own merge.
    keep = np.ones(ts.shape[0], dtype=bool)
    keep[:-1] = ts[1:] != ts[:-1]
    cols = {name: np.asarray(raw[name], dtype=np.float64)[order][keep] for name in
            ("open", "high", "low", "close", "volume")}
    ts = ts[keep]
    if ts.shape[0] and np.any(ts % tf):
        raise ValueError(f"candle open times are not multiples of the {tf} s timeframe")
    for name, values in cols.items():
        if not np.all(np.isfinite(values)):
            raise ValueError(f"column {name!r} holds NaN or infinite values")
    return Series(ts, cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"],
                  timeframe=tf, source=source)


def _read_feather(path: Path, tf: int) -> Series:
    import pyarrow as pa
    import pyarrow.feather as feather

    table = feather.read_table(path)
    missing = {"date", "open", "high", "low", "close", "volume"} - set(table.column_names)
    if missing:
        raise ValueError(f"missing column(s) {', '.join(sorted(missing))}")
    date = table.column("date")
    if date.null_count:
        raise ValueError("column 'date' holds empty values")
    if pa.types.is_timestamp(date.type):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[date.type.unit]
    elif pa.types.is_integer(date.type):
        per_second = 1_000  # freqtrade's integer dates are milliseconds
    else:
        raise ValueError(f"column 'date' has type {date.type}, expected a timestamp")
    raw: dict[str, np.ndarray] = {"date": date.cast(pa.int64()).to_numpy() // per_second}
    for name in ("open", "high", "low", "close", "volume"):
        raw[name] = table.column(name).to_numpy()
    return _from_columns(tf, raw, path.name)


def _read_json(path: Path, tf: int) -> Series:
    rows = json.loads(path.read_text())
    if not isinstance(rows, list):
        raise ValueError("expected a JSON list of [date_ms, open, high, low, close, volume]")
    if not rows:
        arr = np.zeros((0, 6))
    else:
        arr = np.asarray(rows, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] < 6:
            raise ValueError("expected rows of [date_ms, open, high, low, close, volume]")
    raw: dict[str, np.ndarray] = {"date": (arr[:, 0] // 1000).astype(np.int64)}
    for i, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        raw[name] = arr[:, i]
    return _from_columns(tf, raw, path.name)


def aggregate(series: Series, timeframe: int) -> Series:
    """Coarser candles from finer ones, buckets aligned to UTC epoch multiples."""
    buckets = series.ts - series.ts % timeframe
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(series)] - 1
    return Series(
        buckets[starts],
        series.open[starts],
        np.maximum.reduceat(series.high, starts),
        np.minimum.reduceat(series.low, starts),
        series.close[ends],
        np.add.reduceat(series.volume, starts),
        timeframe=timeframe,
        source=f"{series.source} (aggregated)",
    )


def _derive_missing(pair: PairData) -> None:
    for target in GRANULARITIES.values():
        if target in pair.series:
            continue
        sources = [pair.series[tf] for tf in pair.file_timeframes
                   if tf < target and target % tf == 0]
        if not sources:
            continue
        # Widest history first (a 30-day 5m file must not shadow a year of 1h candles), then
        # the coarsest file, whose candles need the least re-aggregation.
        best = min(sources, key=lambda s: (s.first - s.first % target, -s.timeframe))
        pair.series[target] = aggregate(best, target)


def discover(data_dir: Path, timeframes: Iterable[str] | None = None,
             ) -> list[tuple[Path, str, str, int]]:
    wanted = None if timeframes is None else {timeframe_seconds(tf) for tf in timeframes}
    found: dict[tuple[str, str, int], Path] = {}
    for path in sorted(data_dir.iterdir()):
        match = _FILE_RE.match(path.name)
        if not match or not path.is_file():
            continue
        tf_name = match["tf"]
        if tf_name not in TIMEFRAME_SECONDS:
            continue
        tf = TIMEFRAME_SECONDS[tf_name]
        if wanted is not None and tf not in wanted:
            continue
        key = (match["base"].upper(), match["quote"].upper(), tf)
        # feather is freqtrade's default format; prefer it over a stale json twin.
        if key not in found or path.suffix == ".feather":
            found[key] = path
    return [(path, base, quote, tf) for (base, quote, tf), path in sorted(found.items())]


def load_feed(data_dir: Path | str, timeframes: Sequence[str] | None = None) -> Feed:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FeedError(f"data directory {data_dir} does not exist or is not a directory")
    files = discover(data_dir, timeframes)
    if not files:
        which = f" for timeframe(s) {', '.join(timeframes)}" if timeframes else ""
        raise FeedError(
            f"data directory {data_dir} holds no OHLCV files{which} "
            "(expected <BASE>_<QUOTE>-<tf>.feather or .json)"
        )
    pairs: dict[str, PairData] = {}
    for path, base, quote, tf in files:
        try:
            series = _read_feather(path, tf) if path.suffix == ".feather" else _read_json(path, tf)
        except Exception as exc:  # any reader failure is the file's fault
            raise FeedError(f"cannot read data file {path}: {exc}") from None
        if not len(series):
            log.warning("skipping empty data file %s", path)
            continue
        pair = pairs.setdefault(f"{base}-{quote}", PairData(base, quote))
        pair.series[tf] = series
        pair.file_timeframes.add(tf)
    if not pairs:
        raise FeedError(f"data directory {data_dir} holds only empty OHLCV files")
    for pair in pairs.values():
        _derive_missing(pair)
    return Feed(data_dir, pairs)
