"""Order-matching decisions of the replay exchange: pure functions over plain values.

Nothing here reads a clock, a socket or shared state. The brokerage (``brokerage.py``) passes the
order book, the replayed price path and the time in, and applies what comes back. Amounts are
``Decimal`` so that balances reconcile exactly: sum of fills == balance change, to the last digit.

Decisions (documented in the replay README):

- Market orders (and the marketable part of a limit order) sweep the book level by level:
  partial fills across levels, the average price slips with size. A market buy sized in quote
  currency (``quote_size``, what ccxt sends) spends at most that amount *including* the fee,
  as Coinbase does (``size_inclusive_of_fees``); base-sized orders pay the fee on top (buys) or
  out of the proceeds (sells).
- A resting limit order fills at its own price while the replayed best opposite price is at or
  through it, for at most ``share`` of the volume the replay trades meanwhile: an order larger
  than that share fills partially, over several fills.
- Fees come from the account's 30-day volume tier (``fee_tier``); taker for sweeps, maker for
  resting fills. Holds use the taker rate so a hold always covers the fill it reserves for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from enum import StrEnum

ZERO = Decimal(0)
ONE = Decimal(1)


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


@dataclass(frozen=True)
class Level:
    """One price level of the book: price and base size."""

    price: Decimal
    size: Decimal


@dataclass(frozen=True)
class Execution:
    """One fill of an order: base ``size`` at ``price``; its quote value is ``price * size``
    except for the last fill of a quote-sized order, which uses up the budget exactly."""

    price: Decimal
    size: Decimal
    quote: Decimal | None = None

    @property
    def value(self) -> Decimal:
        return self.price * self.size if self.quote is None else self.quote


@dataclass(frozen=True)
class Segment:
    """The replayed price moving linearly from ``p0`` to ``p1`` while ``volume`` (base) trades."""

    p0: float
    p1: float
    volume: float


@dataclass(frozen=True)
class FeeTier:
    pricing_tier: str
    usd_from: Decimal
    usd_to: Decimal | None
    taker: Decimal
    maker: Decimal


def _d(text: str) -> Decimal:
    return Decimal(text)


# Coinbase Advanced's published spot schedule by trailing 30-day USD volume (the lower tiers as
# Coinbase lists them, the upper ones as ccxt's coinbase class carries them).
FEE_TIERS: tuple[FeeTier, ...] = (
    FeeTier("Advanced 1", _d("0"), _d("1000"), _d("0.012"), _d("0.006")),
    FeeTier("Advanced 2", _d("1000"), _d("10000"), _d("0.0075"), _d("0.0035")),
    FeeTier("Advanced 3", _d("10000"), _d("50000"), _d("0.004"), _d("0.0025")),
    FeeTier("VIP 1", _d("50000"), _d("100000"), _d("0.0025"), _d("0.0015")),
    FeeTier("VIP 2", _d("100000"), _d("1000000"), _d("0.002"), _d("0.001")),
    FeeTier("VIP 3", _d("1000000"), _d("15000000"), _d("0.0018"), _d("0.0008")),
    FeeTier("VIP 4", _d("15000000"), _d("75000000"), _d("0.0016"), _d("0.0006")),
    FeeTier("VIP 5", _d("75000000"), _d("250000000"), _d("0.0012"), _d("0.0003")),
    FeeTier("VIP 6", _d("250000000"), _d("400000000"), _d("0.0008"), _d("0")),
    FeeTier("VIP 7", _d("400000000"), None, _d("0.0005"), _d("0")),
)


def fee_tier(volume_30d_usd: Decimal) -> FeeTier:
    """The tier whose ``[usd_from, usd_to)`` holds the trailing 30-day USD volume."""
    for tier in FEE_TIERS:
        if tier.usd_to is None or volume_30d_usd < tier.usd_to:
            return tier
    return FEE_TIERS[-1]


# Coinbase reports quote-sized fills to 16 decimals ("filled_size": "0.000297920684505")
QUOTE_FILL_STEP = Decimal("1e-16")


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return (value / step) == (value / step).to_integral_value()


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_UP) * step


def _within_limit(side: Side, price: Decimal, limit: Decimal | None) -> bool:
    if limit is None:
        return True
    return price <= limit if side is Side.BUY else price >= limit


def sweep(side: Side, levels: Sequence[Level], *, base_increment: Decimal, fee_rate: Decimal,
          base_size: Decimal | None = None, quote_budget: Decimal | None = None,
          limit_price: Decimal | None = None) -> list[Execution]:
    """Take liquidity from ``levels`` (the opposite side, best first).

    Exactly one of ``base_size`` (base units to trade) or ``quote_budget`` (quote to spend on a
    buy, fee included) is given. ``limit_price`` stops the sweep at the first level beyond it.
    A quote-sized buy spends its budget to the 16th decimal, as Coinbase does: its base sizes
    are not rounded to ``base_increment``.
    """
    if (base_size is None) == (quote_budget is None):
        raise ValueError("give base_size or quote_budget")
    if quote_budget is not None:
        if side is not Side.BUY:
            raise ValueError("only a buy can be sized in quote currency")
        return _spend(levels, floor_to(quote_budget / (ONE + fee_rate), QUOTE_FILL_STEP),
                      limit_price)
    assert base_size is not None
    fills: list[Execution] = []
    left = base_size
    for level in levels:
        if left <= 0 or not _within_limit(side, level.price, limit_price):
            break
        size = min(level.size, left)
        fills.append(Execution(level.price, size))
        left -= size
    return fills


def _spend(levels: Sequence[Level], value_left: Decimal,
           limit_price: Decimal | None) -> list[Execution]:
    fills: list[Execution] = []
    for level in levels:
        if value_left <= 0 or not _within_limit(Side.BUY, level.price, limit_price):
            break
        if level.size * level.price < value_left:
            fills.append(Execution(level.price, level.size))
            value_left -= level.size * level.price
        else:
            size = floor_to(value_left / level.price, QUOTE_FILL_STEP)
            fills.append(Execution(level.price, size, quote=value_left))
            value_left = ZERO
    return fills


def crossed_volume(segments: Sequence[Segment], side: Side, threshold: float) -> float:
    """Volume traded while the replayed price was at or through ``threshold``.

    A resting buy is reachable while the best ask is at or below its price (``price <=
    threshold``), a sell while the best bid is at or above it. Prices move linearly inside a
    segment and volume trades evenly, so the share of a segment is the share of its time.
    """
    total = 0.0
    for seg in segments:
        a, b = (seg.p0, seg.p1) if side is Side.BUY else (-seg.p0, -seg.p1)
        t = threshold if side is Side.BUY else -threshold
        if a <= t and b <= t:
            frac = 1.0
        elif a > t and b > t:
            frac = 0.0
        else:
            cross = (t - a) / (b - a)  # where the line meets the threshold, in [0, 1]
            frac = cross if a <= t else 1.0 - cross
        total += seg.volume * frac
    return total


def resting_fill(remaining: Decimal, credit: Decimal, available: float, share: Decimal,
                 base_increment: Decimal) -> tuple[Decimal, Decimal]:
    """Size a resting order fills now, and the credit it carries to the next time.

    ``available`` is the crossed volume since the last check; the order may take ``share`` of
    it. Sizes are whole increments, so the unused fraction is carried as ``credit`` (capped at
    the order's remaining size) instead of being lost on a tiny order.
    """
    credit = credit + Decimal(repr(max(available, 0.0))) * share
    size = min(remaining, floor_to(credit, base_increment))
    credit = min(credit - size, remaining - size)
    return size, max(credit, ZERO)


def fee_of(value: Decimal, rate: Decimal) -> Decimal:
    """The commission on a fill's value (to 16 decimals, as Coinbase reports it)."""
    return floor_to(value * rate, QUOTE_FILL_STEP)


def buy_hold(remaining: Decimal, limit_price: Decimal, taker_rate: Decimal) -> Decimal:
    """Quote currency a resting buy reserves: the worst cost of its remaining size."""
    return remaining * limit_price * (ONE + taker_rate)


def average_price(fills: Sequence[Execution]) -> Decimal:
    size = sum((f.size for f in fills), ZERO)
    if size == 0:
        return ZERO
    return sum((f.value for f in fills), ZERO) / size
