"""The bundled pair catalog (docs/pair-catalog.md) as typed data.

``docs/pair-catalog.md`` is the contract between the data generator, the replay exchange and the
config writer; this module is its machine-readable form and ``tests/datagen`` checks that the two
agree row by row. Generation-only knobs (start prices, volatilities) live in ``model.py`` so
that consumers of the catalog do not depend on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

__all__ = [
    "CATALOG",
    "FINE_DAYS",
    "FINE_TIMEFRAME",
    "RANGE_END",
    "RANGE_START",
    "REAL_TIMEFRAMES",
    "Pair",
    "Source",
    "by_pair",
    "file_name",
    "pairs",
    "resolve_pairs",
]

Source = Literal["real", "generated", "derived"]
FloorSide = Literal["above", "below"]

# The real Coinbase candles cover [RANGE_START, RANGE_END] (open times of the first and last 1h
# candle); every generated 1h series covers exactly the same range so that pairs line up.
RANGE_START: Final = datetime(2024, 4, 18, 17, 0, tzinfo=UTC)
RANGE_END: Final = datetime(2025, 6, 30, 23, 0, tzinfo=UTC)
# 5m candles only cover the tail: a full 14 months of 5m for 37 pairs would be ~10x the data
# for a timeframe only used for detail / the live replay.
FINE_DAYS: Final = 30
FINE_TIMEFRAME: Final = "5m"
REAL_TIMEFRAMES: Final = ("1h", "15m")


@dataclass(frozen=True)
class Pair:
    """One catalog row.

    ``target_usd_volume`` is the median trailing-24h volume in USD the generator aims at; for
    ``source == "real"`` it is the measured median of the real candles (they are not rescaled),
    which the synthetic variant reproduces. ``near_floor_usd`` is the liquidity floor a
    near-floor pair straddles (implied by the doc's above/below pairs, the floors themselves are
    configured in universe.yaml), with ``floor_side`` telling on which side its median sits.
    ``parents`` name the pairs a derived pair is computed from (quote conversions).
    """

    pair: str
    base: str
    quote: str
    source: Source
    tier: str | None
    target_usd_volume: float
    price_tick: float
    near_floor: bool = False
    floor_side: FloorSide | None = None
    near_floor_usd: float | None = None
    excluded: bool = False
    stablecoin: bool = False
    parents: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.pair != f"{self.base}/{self.quote}":
            raise ValueError(f"{self.pair}: base/quote {self.base}/{self.quote} disagree")
        if self.near_floor != (self.floor_side is not None) or self.near_floor != (
            self.near_floor_usd is not None
        ):
            raise ValueError(f"{self.pair}: near_floor needs floor_side and near_floor_usd")
        if (self.source == "derived") != bool(self.parents):
            raise ValueError(f"{self.pair}: derived pairs (and only they) have parents")
        if self.target_usd_volume <= 0 or self.price_tick <= 0:
            raise ValueError(f"{self.pair}: volume target and price tick must be positive")

    @property
    def wiggle(self) -> float:
        """Relative band of the trailing-24h USD volume around the target (doc: ±3 % / ±20 %)."""
        return 0.03 if self.near_floor else 0.20

    @property
    def file_stem(self) -> str:
        return f"{self.base}_{self.quote}"


T1, T2, T3 = "tier_1_core", "tier_2_rotational", "tier_3_event_driven"
M = 1_000_000.0


def _real(base: str, tier: str, volume: float, tick: float) -> Pair:
    return Pair(f"{base}/USD", base, "USD", "real", tier, volume, tick)


def _gen(
    base: str,
    tier: str | None,
    volume: float,
    tick: float,
    *,
    floor: tuple[FloorSide, float] | None = None,
    excluded: bool = False,
    stablecoin: bool = False,
) -> Pair:
    return Pair(
        f"{base}/USD", base, "USD", "generated", tier, volume, tick,
        near_floor=floor is not None,
        floor_side=floor[0] if floor else None,
        near_floor_usd=floor[1] if floor else None,
        excluded=excluded,
        stablecoin=stablecoin,
    )


def _derived(base: str, quote: str, volume: float, tick: float) -> Pair:
    # USDC pairs are the USD pair re-quoted; BTC-quoted pairs are the ratio of two USD pairs.
    parents = (f"{base}/USD",) if quote == "USDC" else (f"{base}/USD", f"{quote}/USD")
    return Pair(f"{base}/{quote}", base, quote, "derived", None, volume, tick, parents=parents)


# Ticks follow Coinbase's quote increments where they leave >= 4 significant digits; for
# sub-cent coins a finer tick than Coinbase's is used so that candles are not a staircase.
CATALOG: Final[tuple[Pair, ...]] = (
    # Real candles: volumes are measured medians over the whole range (not targets).
    _real("BTC", T1, 698.5 * M, 0.01),
    _real("ETH", T1, 275.9 * M, 0.01),
    _real("SOL", T1, 148.6 * M, 0.01),
    _real("ADA", T2, 15.59 * M, 0.0001),
    _gen("XRP", T2, 80 * M, 0.0001),
    _gen("DOGE", T2, 45 * M, 0.00001),
    _gen("AVAX", T2, 20 * M, 0.01),
    _gen("LINK", T2, 15 * M, 0.001),
    _gen("LTC", T2, 12 * M, 0.01),
    _gen("DOT", T2, 8 * M, 0.001),
    _gen("POL", T2, 6 * M, 0.0001),
    _gen("NEAR", T2, 5.05 * M, 0.001, floor=("above", 5 * M)),
    _gen("ATOM", T2, 4.95 * M, 0.001, floor=("below", 5 * M)),
    _gen("UNI", T3, 3.5 * M, 0.001),
    _gen("XLM", T3, 2.8 * M, 0.00001),
    _gen("AAVE", T3, 2.5 * M, 0.01),
    _gen("ICP", T3, 2.2 * M, 0.001),
    _gen("FIL", T3, 2.02 * M, 0.001, floor=("above", 2 * M)),
    _gen("GRT", T3, 1.98 * M, 0.00001, floor=("below", 2 * M)),
    _gen("ALGO", T3, 1.2 * M, 0.00001),
    _gen("SUI", T3, 7 * M, 0.0001),
    _gen("SHIB", None, 9 * M, 1e-9),
    _gen("BONK", None, 3.2 * M, 1e-9, excluded=True),
    _gen("ARB", None, 3.05 * M, 0.0001, floor=("above", 3 * M)),
    _gen("OP", None, 2.95 * M, 0.0001, floor=("below", 3 * M)),
    _gen("PEPE", None, 2.9 * M, 1e-10),
    _gen("HBAR", None, 4 * M, 0.00001),
    _gen("INJ", None, 3.4 * M, 0.001),
    _gen("FET", None, 1.5 * M, 0.0001),
    _gen("SEI", None, 0.8 * M, 0.0001),
    _gen("USDT", None, 50 * M, 0.00001, stablecoin=True),
    _derived("BTC", "USDC", 40 * M, 0.01),
    _derived("ETH", "USDC", 25 * M, 0.01),
    _derived("SOL", "USDC", 10 * M, 0.01),
    _derived("ETH", "BTC", 6 * M, 0.00001),
    _derived("SOL", "BTC", 3.3 * M, 0.0000001),
    _derived("ADA", "BTC", 0.9 * M, 1e-10),
)

_BY_PAIR: Final[dict[str, Pair]] = {p.pair: p for p in CATALOG}


def pairs() -> tuple[str, ...]:
    """All catalog pairs in catalog order."""
    return tuple(_BY_PAIR)


def by_pair(pair: str) -> Pair:
    """The catalog row for ``pair`` (``BTC/USD``, ``BTC-USD``, ``btc_usd``); else ``KeyError``."""
    key = pair.strip().upper().replace("-", "/").replace("_", "/")
    try:
        return _BY_PAIR[key]
    except KeyError:
        raise KeyError(f"unknown pair {pair!r}: not in the bundled catalog") from None


def resolve_pairs(requested: Iterable[str] | None) -> tuple[Pair, ...]:
    """Catalog rows for ``requested`` (all when ``None``), in catalog order, without duplicates."""
    if requested is None:
        return CATALOG
    wanted = {by_pair(p).pair for p in requested}
    return tuple(p for p in CATALOG if p.pair in wanted)


def file_name(pair: str, timeframe: str) -> str:
    """freqtrade's feather file name for a spot pair: ``BTC/USD`` 1h -> ``BTC_USD-1h.feather``."""
    return f"{by_pair(pair).file_stem}-{timeframe}.feather"


def fine_range() -> tuple[datetime, datetime]:
    """Open times of the first and last 5m candle: the last ``FINE_DAYS`` days of the range."""
    stop = RANGE_END + timedelta(hours=1)
    return stop - timedelta(days=FINE_DAYS), stop - timedelta(minutes=5)
