"""Accounts, orders and fills of the replay exchange: the state around the pure engine.

One lock guards everything; every call takes the replay time ``now``. Resting orders are brought
up to date lazily -- at the start of every private call, the control API's state and
``reconcile`` -- which nobody can tell from a background matcher, since orders and balances are
only ever seen through those calls.

Balances hold the *total* per currency; holds are derived from the open orders (a resting buy
holds its worst cost at the taker rate, a resting sell its remaining base size), so a hold can
never drift from the orders that justify it. ``reconcile`` proves the books: for every account
and currency, deposits + the sum of fills == the balance, and nothing is negative.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from trader247.replay.engine import (
    ONE,
    ZERO,
    Execution,
    FeeTier,
    Level,
    Segment,
    Side,
    buy_hold,
    crossed_volume,
    fee_of,
    fee_tier,
    floor_to,
    resting_fill,
)
from trader247.replay.orders import (
    CANCELLED,
    EXPIRED,
    FILLED,
    Balances,
    Fill,
    Order,
    OrderRequest,
    ProductSpec,
    Rejection,
    immediate_fills,
    validate,
)

THIRTY_DAYS = 30 * 86400.0
DEFAULT_VOLUME_SHARE = Decimal("0.1")


class MarketView(Protocol):
    """What the brokerage needs from the replayed market."""

    def spec(self, product_id: str, now: float) -> ProductSpec | None: ...

    def book(self, product_id: str, now: float) -> tuple[Sequence[Level], Sequence[Level]]: ...

    def path(self, product_id: str, t0: float, t1: float) -> list[Segment]: ...

    def half_spread(self, product_id: str, now: float) -> float: ...

    def usd_price(self, currency: str, now: float) -> float | None: ...


@dataclass(frozen=True)
class Transfer:
    time: float
    currency: str
    amount: Decimal
    note: str


@dataclass
class Account:
    name: str
    user_id: str
    balances: dict[str, Decimal] = field(default_factory=dict)
    transfers: list[Transfer] = field(default_factory=list)
    fixed_tier: FeeTier | None = None


@dataclass(frozen=True)
class CancelResult:
    order_id: str
    success: bool
    failure_reason: str


class Brokerage:
    def __init__(self, market: MarketView, *,
                 volume_share: Decimal = DEFAULT_VOLUME_SHARE) -> None:
        self.market = market
        self.volume_share = volume_share
        self._lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        # indexes: every request touches the open orders and an account's own history only
        self._open: dict[str, Order] = {}
        self._by_account: dict[str, tuple[list[Order], list[Fill]]] = {}
        self._client_ids: dict[tuple[str, str], str] = {}
        self._seq = itertools.count(1)

    # -- accounts --------------------------------------------------------------------------
    def open_account(self, name: str, balances: Mapping[str, Decimal], now: float,
                     fixed_tier: FeeTier | None = None) -> Account:
        """Create ``name`` (or top it up): each balance is set to the given total, the
        difference booked as a transfer so the books still reconcile."""
        with self._lock:
            account = self.accounts.get(name)
            if account is None:
                user = str(uuid.uuid5(uuid.NAMESPACE_URL, f"trader247-replay-user:{name}"))
                account = self.accounts[name] = Account(name, user)
            if fixed_tier is not None:
                account.fixed_tier = fixed_tier
            for currency, amount in balances.items():
                self._set_balance(account, currency.upper(), amount, now)
            return account

    def _set_balance(self, account: Account, currency: str, amount: Decimal,
                     now: float) -> None:
        held = self._holds(account.name).get(currency, ZERO)
        if amount < held:
            raise ValueError(f"{account.name}: {currency} {amount} is below the {held} held "
                             "by open orders")
        delta = amount - account.balances.get(currency, ZERO)
        if delta:
            account.transfers.append(Transfer(now, currency, delta,
                                              "deposit" if delta > 0 else "withdrawal"))
            account.balances[currency] = amount

    def _holds(self, name: str) -> dict[str, Decimal]:
        holds: dict[str, Decimal] = {}
        for order in self._open.values():
            if order.account != name:
                continue
            base, quote = _currencies(order.request.product_id)
            if order.request.side is Side.SELL:
                holds[base] = holds.get(base, ZERO) + order.remaining
            else:
                assert order.request.limit_price is not None
                hold = buy_hold(order.remaining, order.request.limit_price, order.hold_rate)
                holds[quote] = holds.get(quote, ZERO) + hold
        return holds

    def holds(self, name: str, now: float) -> dict[str, Decimal]:
        with self._lock:
            self.advance(now)
            return self._holds(name)

    def balances(self, name: str, now: float) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        """(total, held) per currency, brought up to ``now``."""
        with self._lock:
            self.advance(now)
            return dict(self.accounts[name].balances), self._holds(name)

    def _tier(self, account: Account, now: float) -> FeeTier:
        if account.fixed_tier is not None:
            return account.fixed_tier
        return fee_tier(self._volume_30d(account.name, now))

    def _volume_30d(self, name: str, now: float) -> Decimal:
        fills = self._history(name)[1]
        return sum((f.usd_value for f in reversed(fills) if now - THIRTY_DAYS < f.time <= now),
                   ZERO)

    def _history(self, name: str) -> tuple[list[Order], list[Fill]]:
        return self._by_account.setdefault(name, ([], []))

    def summary(self, name: str, now: float) -> tuple[FeeTier, Decimal, Decimal]:
        """(fee tier, 30-day USD volume, 30-day fees in USD)."""
        with self._lock:
            self.advance(now)
            account = self.accounts[name]
            fills = [f for f in self._history(name)[1] if now - THIRTY_DAYS < f.time]
            fees = sum((f.commission * (f.usd_value / f.value if f.value else ZERO)
                        for f in fills), ZERO)
            return self._tier(account, now), self._volume_30d(name, now), fees

    # -- orders ----------------------------------------------------------------------------
    def create(self, name: str, req: OrderRequest, now: float, *,
               max_fraction: Decimal | None = None) -> tuple[Order | None, Rejection | None]:
        """Accept (and execute what is immediately executable) or reject an order.

        A ``client_order_id`` seen before on this account returns the first order and
        changes nothing: a retried create never makes a second order.
        """
        with self._lock:
            known = self._client_ids.get((name, req.client_order_id))
            if known is not None:
                return self.orders[known], None
            self.advance(now)
            account = self.accounts[name]
            spec = self.market.spec(req.product_id, now)
            bids, asks = self.market.book(req.product_id, now) if spec else ([], [])
            opposite = asks if req.side is Side.BUY else bids
            tier = self._tier(account, now)
            base, quote = _currencies(req.product_id)
            holds = self._holds(name)
            free = Balances(account.balances.get(base, ZERO) - holds.get(base, ZERO),
                            account.balances.get(quote, ZERO) - holds.get(quote, ZERO))
            rejection = validate(req, spec, opposite, free, tier.taker)
            if rejection is not None:
                return None, rejection
            assert spec is not None
            order = Order(str(uuid.uuid4()), name, req, now, next(self._seq), checked=now,
                          hold_rate=tier.taker)
            self.orders[order.order_id] = order
            self._open[order.order_id] = order
            self._history(name)[0].append(order)
            self._client_ids[(name, req.client_order_id)] = order.order_id
            fills = immediate_fills(req, opposite, spec.base_increment, tier.taker, max_fraction)
            for execution in fills:
                self._book_fill(order, spec, execution, tier.taker, "TAKER", now)
            self._settle_new(order)
            return order, None

    def _settle_new(self, order: Order) -> None:
        req = order.request
        if req.order_type == "MARKET" or req.time_in_force in ("IMMEDIATE_OR_CANCEL",
                                                               "FILL_OR_KILL"):
            complete = (req.base_size is not None and order.remaining <= 0) or (
                req.base_size is None and order.filled_size > 0)
            self._close(order, FILLED if complete else CANCELLED, order.created,
                        "" if complete else "Immediate or cancel: unfilled remainder cancelled")
        elif order.remaining <= 0:
            self._close(order, FILLED, order.last_fill_time or order.created)

    def _close(self, order: Order, status: str, when: float, message: str = "") -> None:
        order.status, order.closed = status, when
        if message:
            order.cancel_message = message
        self._open.pop(order.order_id, None)

    def _book_fill(self, order: Order, spec: ProductSpec, execution: Execution, rate: Decimal,
                   liquidity: str, now: float) -> None:
        account = self.accounts[order.account]
        value = execution.value
        fee = fee_of(value, rate)
        side = order.request.side
        base, quote = spec.base, spec.quote
        sign = ONE if side is Side.BUY else -ONE
        account.balances[base] = account.balances.get(base, ZERO) + sign * execution.size
        account.balances[quote] = account.balances.get(quote, ZERO) - sign * value - fee
        order.filled_size += execution.size
        order.filled_value += value
        order.total_fees += fee
        order.number_of_fills += 1
        order.last_fill_time = now
        usd = Decimal(repr(self.market.usd_price(quote, now) or 0.0))
        fill = (Fill(
            trade_id=str(uuid.uuid4()), order_id=order.order_id, account=order.account,
            product_id=order.request.product_id, side=side, price=execution.price,
            size=execution.size, quote=execution.quote, commission=fee, time=now,
            liquidity=liquidity,
            size_in_quote=order.request.quote_size is not None, usd_value=value * usd,
            seq=next(self._seq)))
        self.fills.append(fill)
        self._history(order.account)[1].append(fill)

    def advance(self, now: float) -> None:
        """Fill resting orders for the replayed market up to ``now``; expire GTD orders."""
        with self._lock:
            for order in list(self._open.values()):
                if now > order.checked:
                    self._advance_order(order, now)

    def _advance_order(self, order: Order, now: float) -> None:
        req = order.request
        spec = self.market.spec(req.product_id, now)
        until = now if req.end_time is None else min(now, req.end_time)
        if spec is not None and until > order.checked:
            assert req.limit_price is not None
            half = self.market.half_spread(req.product_id, until)
            limit = float(req.limit_price)
            threshold = limit - half if req.side is Side.BUY else limit + half
            crossed = crossed_volume(self.market.path(req.product_id, order.checked, until),
                                     req.side, threshold)
            size, order.credit = resting_fill(order.remaining, order.credit, crossed,
                                              self.volume_share, spec.base_increment)
            if size > 0:
                self._book_fill(order, spec, Execution(req.limit_price, size),
                                self._maker_rate(order, until), "MAKER", until)
        order.checked = now
        if order.remaining <= 0:
            self._close(order, FILLED, order.last_fill_time or now)
        elif req.end_time is not None and now >= req.end_time:
            self._close(order, EXPIRED, req.end_time, "Order expired")

    def cancel(self, name: str, order_ids: Sequence[str], now: float, *,
               fill_fraction: Decimal | None = None) -> list[CancelResult]:
        """Cancel open orders; ``fill_fraction`` first fills that share of each open order's
        remainder at its limit price (the fill-before-cancel faults: 1 = it was filled
        before the cancel arrived, below 1 = partly filled, then cancelled)."""
        with self._lock:
            self.advance(now)
            results = []
            for order_id in order_ids:
                order = self.orders.get(order_id)
                if order is None or order.account != name:
                    results.append(CancelResult(order_id, False, "UNKNOWN_CANCEL_ORDER"))
                    continue
                if order.is_open and fill_fraction is not None:
                    self._force_fill(order, fill_fraction, now)
                if order.status == FILLED:
                    results.append(CancelResult(order_id, False, "ORDER_IS_FULLY_FILLED"))
                elif not order.is_open:
                    results.append(CancelResult(order_id, False, "DUPLICATE_CANCEL_REQUEST"))
                else:
                    self._close(order, CANCELLED, now, "User requested cancel")
                    results.append(CancelResult(order_id, True, "UNKNOWN_CANCEL_FAILURE_REASON"))
            return results

    def _reconcile_account(self, account: Account) -> list[str]:
        name = account.name
        orders, fills = self._history(name)
        expected = _expected_balances(account, fills)
        holds = self._holds(name)
        problems = []
        for currency in sorted(set(expected) | set(account.balances)):
            have = account.balances.get(currency, ZERO)
            if have != expected.get(currency, ZERO):
                problems.append(f"{name} {currency}: balance {have} != transfers + fills "
                                f"{expected.get(currency, ZERO)}")
            if have < 0:
                problems.append(f"{name} {currency}: negative balance {have}")
            if holds.get(currency, ZERO) > have:
                problems.append(f"{name} {currency}: hold {holds[currency]} exceeds balance "
                                f"{have}")
        filled: dict[str, Decimal] = {}
        for f in fills:
            filled[f.order_id] = filled.get(f.order_id, ZERO) + f.size
        for order in orders:
            if order.filled_size != filled.get(order.order_id, ZERO):
                problems.append(f"{name} order {order.order_id}: filled_size "
                                f"{order.filled_size} != the sum of its fills")
        return problems

    def _maker_rate(self, order: Order, now: float) -> Decimal:
        # a resting order never pays more than its hold reserved (the taker rate it was
        # accepted at), even if the account's tier rose meanwhile
        return min(self._tier(self.accounts[order.account], now).maker, order.hold_rate)

    def _force_fill(self, order: Order, fraction: Decimal, now: float) -> None:
        spec = self.market.spec(order.request.product_id, now)
        if spec is None or order.request.limit_price is None:
            return
        size = order.remaining if fraction >= 1 else floor_to(order.remaining * fraction,
                                                              spec.base_increment)
        if size > 0:
            self._book_fill(order, spec, Execution(order.request.limit_price, size),
                            self._maker_rate(order, now), "MAKER", now)
        if order.remaining <= 0:
            self._close(order, FILLED, now)

    # -- queries ---------------------------------------------------------------------------
    def order(self, name: str, order_id: str, now: float) -> Order | None:
        with self._lock:
            self.advance(now)
            order = self.orders.get(order_id)
            return order if order is not None and order.account == name else None

    def list_orders(self, name: str, now: float, *, statuses: Iterable[str] = (),
                    product_ids: Iterable[str] = (), sides: Iterable[str] = (),
                    order_ids: Iterable[str] = (), start: float | None = None,
                    end: float | None = None) -> list[Order]:
        """Newest first, as Coinbase lists them."""
        statuses, products, wanted_sides, ids = (set(statuses), set(product_ids), set(sides),
                                                 set(order_ids))
        with self._lock:
            self.advance(now)
            found = [o for o in self._history(name)[0]
                     if (not statuses or o.status in statuses)
                     and (not products or o.request.product_id in products)
                     and (not wanted_sides or o.request.side in wanted_sides)
                     and (not ids or o.order_id in ids)
                     and (start is None or o.created >= start)
                     and (end is None or o.created <= end)]
        return found[::-1]  # the history is in creation order

    def list_fills(self, name: str, now: float, *, order_ids: Iterable[str] = (),
                   product_ids: Iterable[str] = (), start: float | None = None,
                   end: float | None = None) -> list[Fill]:
        ids, products = set(order_ids), set(product_ids)
        with self._lock:
            self.advance(now)
            found = [f for f in self._history(name)[1]
                     if (not ids or f.order_id in ids)
                     and (not products or f.product_id in products)
                     and (start is None or f.time >= start)
                     and (end is None or f.time <= end)]
        return found[::-1]

    # -- proof -----------------------------------------------------------------------------
    def reconcile(self, now: float) -> list[str]:
        """Problems with the books (empty when they balance): for each account and currency,
        transfers + fills must equal the balance, nothing may be negative and holds never
        exceed balances."""
        with self._lock:
            self.advance(now)
            problems: list[str] = []
            for account in self.accounts.values():
                problems += self._reconcile_account(account)
            return problems


def _expected_balances(account: Account, fills: Sequence[Fill]) -> dict[str, Decimal]:
    expected: dict[str, Decimal] = {}
    for t in account.transfers:
        expected[t.currency] = expected.get(t.currency, ZERO) + t.amount
    for f in fills:
        base, quote = _currencies(f.product_id)
        sign = ONE if f.side is Side.BUY else -ONE
        expected[base] = expected.get(base, ZERO) + sign * f.size
        expected[quote] = expected.get(quote, ZERO) - sign * f.value - f.commission
    return expected


def _currencies(product_id: str) -> tuple[str, str]:
    base, _, quote = product_id.partition("-")
    return base, quote
