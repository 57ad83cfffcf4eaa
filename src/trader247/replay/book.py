"""The replay's order book: a pure function of the price, the product and the book shape.

Prices are integers of ticks (``quote_increment``) and sizes integers of ``base_increment``
units, so the public JSON and the matching engine see exactly the same book.

Spread (``spread_bps: auto``, the default): Coinbase's liquid books are one tick wide -- BTC-USD's
spread is one cent -- and thinner books are wider. ``auto`` is one tick at 24 h USD volumes of
$50M and more, and ``12 * sqrt($1M / volume) - 1.7`` basis points below that (0 bp at $50M,
~3.7 bp at $5M, ~10 bp at $1M), never less than one tick. A number replaces it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import overload

from trader247.replay.engine import Level

AUTO_ONE_TICK_USD = 50e6


@dataclass(frozen=True)
class Ladder:
    """Both sides of the book, best first, as (ticks, units) integers."""

    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    price_decimals: int
    size_decimals: int

    def levels(self, side: str) -> Sequence[Level]:
        return _Levels(self.bids if side == "bids" else self.asks, self.price_decimals,
                       self.size_decimals)

    @property
    def best_bid(self) -> int:
        return self.bids[0][0] if self.bids else 0

    @property
    def best_ask(self) -> int:
        return self.asks[0][0]


class _Levels(Sequence[Level]):
    """Book levels as Decimals, converted when read: a sweep seldom goes past a few levels."""

    def __init__(self, rows: list[tuple[int, int]], price_decimals: int,
                 size_decimals: int) -> None:
        self._rows, self._p, self._s = rows, -price_decimals, -size_decimals

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Level: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Level]: ...

    def __getitem__(self, index: int | slice) -> Level | Sequence[Level]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        price, size = self._rows[index]
        return Level(Decimal(price).scaleb(self._p), Decimal(size).scaleb(self._s))


def auto_spread_bps(usd_volume_24h: float) -> float:
    if usd_volume_24h >= AUTO_ONE_TICK_USD:
        return 0.0
    return max(0.0, 12.0 * math.sqrt(1e6 / max(usd_volume_24h, 1.0)) - 1.7)


def ladder(price: float, *, price_decimals: int, size_decimals: int, spread_bps: float,
           step_bps: float, depth: int, level_quote: float) -> Ladder:
    """``depth`` levels a side, ``step_bps`` apart, ``level_quote`` quote value at the best
    level growing 25 % per level; the mid sits at ``price``."""
    tick = 10.0 ** -price_decimals
    unit = 10.0 ** -size_decimals
    in_ticks = price / tick
    half = in_ticks * spread_bps / 2e4
    best_bid = math.floor(in_ticks - half)
    best_ask = max(math.ceil(in_ticks + half), best_bid + 1)
    step = max(1, round(in_ticks * step_bps / 1e4))
    bids: list[tuple[int, int]] = []
    asks: list[tuple[int, int]] = []
    for i in range(depth):
        size = max(1, round(level_quote * (1 + 0.25 * i) / price / unit))
        bid = best_bid - i * step
        if bid > 0:
            bids.append((bid, size))
        asks.append((best_ask + i * step, size))
    return Ladder(bids, asks, price_decimals, size_decimals)
