"""Orders, fills and the checks Coinbase runs before it accepts an order (pure, time passed in).

``validate`` mirrors Coinbase's rejections with its real failure reasons: an HTTP 200 whose
``error_response`` names ``error`` / ``preview_failure_reason`` / ``new_order_failure_reason``
(e.g. ``INSUFFICIENT_FUND`` with "Insufficient balance in source account", as Coinbase sends it
and ccxt maps to ``InsufficientFunds``; ``PREVIEW_INVALID_BASE_SIZE_TOO_SMALL``,
``INVALID_PRICE_PRECISION``, ``PREVIEW_INVALID_PRODUCT_ID``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from trader247.replay.engine import (
    ONE,
    ZERO,
    Execution,
    Level,
    Side,
    floor_to,
    is_multiple,
    sweep,
)

# order_configuration keys the replay executes -> (order_type, time_in_force)
CONFIGURATIONS: dict[str, tuple[str, str]] = {
    "market_market_ioc": ("MARKET", "IMMEDIATE_OR_CANCEL"),
    "limit_limit_gtc": ("LIMIT", "GOOD_UNTIL_CANCELLED"),
    "limit_limit_gtd": ("LIMIT", "GOOD_UNTIL_DATE_TIME"),
    "sor_limit_ioc": ("LIMIT", "IMMEDIATE_OR_CANCEL"),
    "limit_limit_fok": ("LIMIT", "FILL_OR_KILL"),
}
OPEN, FILLED, CANCELLED, EXPIRED = "OPEN", "FILLED", "CANCELLED", "EXPIRED"
TERMINAL = frozenset({FILLED, CANCELLED, EXPIRED, "FAILED"})


@dataclass(frozen=True)
class ProductSpec:
    product_id: str
    base: str
    quote: str
    base_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    quote_min_size: Decimal
    quote_max_size: Decimal
    trading_disabled: bool = False
    cancel_only: bool = False
    limit_only: bool = False
    post_only: bool = False


@dataclass(frozen=True)
class OrderRequest:
    client_order_id: str
    product_id: str
    side: Side
    config_key: str
    configuration: Mapping[str, Any]
    base_size: Decimal | None = None
    quote_size: Decimal | None = None
    limit_price: Decimal | None = None
    post_only: bool = False
    end_time: float | None = None

    @property
    def order_type(self) -> str:
        return CONFIGURATIONS[self.config_key][0]

    @property
    def time_in_force(self) -> str:
        return CONFIGURATIONS[self.config_key][1]


@dataclass(frozen=True)
class Rejection:
    error: str
    message: str
    preview: str
    new_order: str = "UNKNOWN_FAILURE_REASON"


@dataclass
class Order:
    """An accepted order; the brokerage mutates it as it fills (under its lock)."""

    order_id: str
    account: str
    request: OrderRequest
    created: float
    seq: int
    status: str = OPEN
    filled_size: Decimal = ZERO
    filled_value: Decimal = ZERO
    total_fees: Decimal = ZERO
    number_of_fills: int = 0
    last_fill_time: float | None = None
    credit: Decimal = ZERO  # resting fills: crossed volume share not yet filled
    checked: float = 0.0  # resting fills: the replay time fills were computed up to
    hold_rate: Decimal = ZERO  # the taker rate a buy's hold was reserved at
    cancel_message: str = ""
    closed: float | None = None

    @property
    def remaining(self) -> Decimal:
        if self.request.base_size is None:
            return ZERO
        return self.request.base_size - self.filled_size

    @property
    def is_open(self) -> bool:
        return self.status == OPEN


@dataclass(frozen=True)
class Fill:
    trade_id: str
    order_id: str
    account: str
    product_id: str
    side: Side
    price: Decimal
    size: Decimal
    quote: Decimal | None  # the exact value of a budget-closing fill (see engine.Execution)
    commission: Decimal
    time: float
    liquidity: str  # MAKER / TAKER
    size_in_quote: bool
    usd_value: Decimal
    seq: int

    @property
    def value(self) -> Decimal:
        return self.price * self.size if self.quote is None else self.quote


@dataclass(frozen=True)
class Balances:
    """What an order may use: the free balance of the base and of the quote currency."""

    base: Decimal = ZERO
    quote: Decimal = ZERO


def _reject(error: str, message: str, preview: str,
            new_order: str = "UNKNOWN_FAILURE_REASON") -> Rejection:
    return Rejection(error, message, preview, new_order)


def _size_checks(req: OrderRequest, spec: ProductSpec,
                 reference_price: Decimal) -> Rejection | None:
    if req.limit_price is not None:
        if req.limit_price <= 0:
            return _reject("INVALID_LIMIT_PRICE", "limit price must be positive",
                           "PREVIEW_INVALID_LIMIT_PRICE", "INVALID_LIMIT_PRICE")
        if not is_multiple(req.limit_price, spec.quote_increment):
            return _reject("INVALID_PRICE_PRECISION",
                           f"limit_price {req.limit_price} is not a multiple of quote_increment "
                           f"{spec.quote_increment}", "PREVIEW_INVALID_PRICE_PRECISION",
                           "INVALID_PRICE_PRECISION")
    if req.base_size is not None:
        if not is_multiple(req.base_size, spec.base_increment) or req.base_size <= 0:
            return _reject("INVALID_SIZE_PRECISION",
                           f"base_size {req.base_size} is not a multiple of base_increment "
                           f"{spec.base_increment}", "PREVIEW_INVALID_SIZE_PRECISION",
                           "INVALID_SIZE_PRECISION")
        if req.base_size < spec.base_min_size:
            return _reject("UNKNOWN_FAILURE_REASON", "Too small order size",
                           "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL")
        if req.base_size > spec.base_max_size:
            return _reject("UNKNOWN_FAILURE_REASON", "Too large order size",
                           "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE")
        notional = req.base_size * (req.limit_price or reference_price)
    else:
        assert req.quote_size is not None
        if not is_multiple(req.quote_size, spec.quote_increment) or req.quote_size <= 0:
            return _reject("UNKNOWN_FAILURE_REASON",
                           f"quote_size {req.quote_size} is not a multiple of quote_increment "
                           f"{spec.quote_increment}", "PREVIEW_INVALID_QUOTE_SIZE_PRECISION")
        notional = req.quote_size
    if notional < spec.quote_min_size:
        return _reject("UNKNOWN_FAILURE_REASON", "Too small order size",
                       "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL")
    if notional > spec.quote_max_size:
        return _reject("UNKNOWN_FAILURE_REASON", "Too large order size",
                       "PREVIEW_INVALID_QUOTE_SIZE_TOO_LARGE")
    return None


def _state_checks(req: OrderRequest, spec: ProductSpec) -> Rejection | None:
    if spec.trading_disabled or spec.cancel_only:
        return _reject("UNKNOWN_FAILURE_REASON", "Trading is disabled for this product",
                       "PREVIEW_TRADING_DISABLED", "ORDER_ENTRY_DISABLED")
    if spec.limit_only and req.order_type == "MARKET":
        return _reject("UNSUPPORTED_ORDER_CONFIGURATION", "product is in limit only mode",
                       "PREVIEW_INVALID_ORDER_CONFIG", "UNSUPPORTED_ORDER_CONFIGURATION")
    if spec.post_only and not req.post_only:
        return _reject("UNSUPPORTED_ORDER_CONFIGURATION", "product is in post only mode",
                       "PREVIEW_INVALID_ORDER_CONFIG", "UNSUPPORTED_ORDER_CONFIGURATION")
    if req.quote_size is not None and req.side is Side.SELL:
        return _reject("UNSUPPORTED_ORDER_CONFIGURATION",
                       "quote_size is only supported for market buys",
                       "PREVIEW_INVALID_ORDER_CONFIG", "UNSUPPORTED_ORDER_CONFIGURATION")
    return None


def required_funds(req: OrderRequest, opposite: Sequence[Level], base_increment: Decimal,
                   taker: Decimal) -> Decimal:
    """What the order must find free: quote currency for a buy, base for a sell."""
    if req.side is Side.SELL:
        return req.base_size or ZERO
    if req.quote_size is not None:
        return req.quote_size
    assert req.base_size is not None
    if req.limit_price is not None:
        return req.base_size * req.limit_price * (ONE + taker)
    fills = sweep(Side.BUY, opposite, base_increment=base_increment, fee_rate=taker,
                  base_size=req.base_size)
    return sum((f.value for f in fills), ZERO) * (ONE + taker)



def validate(req: OrderRequest, spec: ProductSpec | None, opposite: Sequence[Level],
             free: Balances, taker: Decimal) -> Rejection | None:
    """Coinbase's pre-trade checks, first failure wins (product, state, sizes, post-only,
    funds)."""
    if spec is None:
        return _reject("UNKNOWN_FAILURE_REASON", "Product ID is invalid",
                       "PREVIEW_INVALID_PRODUCT_ID", "INVALID_PRODUCT_ID")
    reference = opposite[0].price if opposite else ZERO
    problem = _state_checks(req, spec) or _size_checks(req, spec, reference)
    if problem is not None:
        return problem
    if (req.post_only and req.limit_price is not None and opposite
            and crosses(req.side, req.limit_price, opposite[0].price)):
        return _reject("INVALID_LIMIT_PRICE_POST_ONLY", "post only order would cross the book",
                       "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY", "INVALID_LIMIT_PRICE_POST_ONLY")
    needed = required_funds(req, opposite, spec.base_increment, taker)
    have = free.base if req.side is Side.SELL else free.quote
    if needed > have:
        return _reject("INSUFFICIENT_FUND", "Insufficient balance in source account",
                       "PREVIEW_INSUFFICIENT_FUND", "INSUFFICIENT_FUND")
    return None


def crosses(side: Side, limit_price: Decimal, best_opposite: Decimal) -> bool:
    return limit_price >= best_opposite if side is Side.BUY else limit_price <= best_opposite


def immediate_fills(req: OrderRequest, opposite: Sequence[Level], base_increment: Decimal,
                    taker: Decimal, max_fraction: Decimal | None = None) -> list[Execution]:
    """The taker part of an accepted order: a market order sweeps the book, a limit order takes
    what lies at or better than its price (nothing for post-only). ``max_fraction`` caps the
    size (the ``partial_fill`` fault)."""
    if req.post_only:
        return []
    base_size = req.base_size
    quote = req.quote_size
    if max_fraction is not None:
        if base_size is not None:
            base_size = floor_to(base_size * max_fraction, base_increment)
        elif quote is not None:
            quote = quote * max_fraction
    if base_size is not None and base_size <= 0:
        return []
    fills = sweep(req.side, opposite, base_increment=base_increment, fee_rate=taker,
                  base_size=base_size, quote_budget=quote if base_size is None else None,
                  limit_price=req.limit_price)
    if req.time_in_force == "FILL_OR_KILL" and sum((f.size for f in fills), ZERO) != (
            req.base_size or ZERO):
        return []
    return fills
