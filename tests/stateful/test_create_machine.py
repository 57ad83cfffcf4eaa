"""Stateful: live order creation through the real guards against a model of Coinbase's create
([T] item 2).

freqtrade calls ``create_order`` on the bot's ccxt instance, which the cap mixin wraps as in
production: ``idempotent_create`` first, ``market_fill`` around it. Below them sits
:class:`Coinbase`, a model of what Coinbase Advanced Trade does with a create as ccxt reports it:

- a ``client_order_id`` it has accepted before returns that order and places nothing (checked
  before anything else, as the replay's brokerage does);
- each HTTP attempt ends one way: answered; a time-out or a 5xx before the request was carried
  out, or a 429 (nothing placed); a time-out or a 5xx AFTER it was carried out (placed, answer
  lost); a definite rejection (``InsufficientFunds`` / ``InvalidOrder``: nothing placed);
- a market order is filled (or, IOC, partly filled and cancelled) when it is accepted, but the
  create's answer carries only its id (status ``open``); ``fetch_order`` may fail: a 5xx, a
  time-out, ``OrderNotFound`` (the order not yet visible) or another exchange error.

Each freqtrade call is one intent; a call whose outcome stayed unknown (the guard raised a
``NetworkError``) continues as the same intent in the next call of that pair and side within
``PENDING_TTL_S`` (the guard's own rule; after it, an unresolved order is an accepted loss the
module documents). Checks:

- never two exchange orders for one intent;
- a client order id the exchange rejected is never sent again;
- what freqtrade sees agrees with the exchange: an order answer is the intent's order, and a
  final status in it is the exchange's; a definite error means the exchange holds no order of
  the intent (a lookup error after a market create must not make a filled order look failed);
  a market order whose lookup answered comes back with its fill.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import ccxt
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.stateful.budget import bounded
from trader247.patches import idempotent_create, market_fill
from trader247.patches.idempotent_create import PENDING_TTL_S, RETRY_DELAYS_S

ATTEMPTS = len(RETRY_DELAYS_S) + 1
# One HTTP attempt: what the exchange does with it and what the client is told.
ANSWERED, LOST_BEFORE, RATE_LIMITED, LOST_AFTER, FAILED_AFTER, REJECTED = (
    "answered", "timeout before", "429", "timeout after", "5xx after", "rejected")
ATTEMPT = st.sampled_from([LOST_AFTER, ANSWERED, REJECTED, LOST_BEFORE, FAILED_AFTER,
                           RATE_LIMITED])
LOOKUP = st.sampled_from(["not found", "answered", "5xx", "timeout", "error"])
SETTINGS = bounded(max_examples=150, steps=30)


@dataclass
class ExchangeOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    amount: float
    status: str  # "open", "closed", "canceled"
    filled: float

    def unified(self) -> dict[str, Any]:
        return {"id": self.id, "clientOrderId": self.client_order_id, "symbol": self.symbol,
                "side": self.side, "type": self.type, "amount": self.amount,
                "status": self.status, "filled": self.filled}


@dataclass
class Coinbase:
    """The exchange below ccxt (module doc). ``attempts`` and ``lookups`` are the scripted
    outcomes of the next HTTP attempts; ``sent`` every client order id a create carried."""

    now: list[float]
    orders: dict[str, ExchangeOrder] = field(default_factory=dict)
    by_client_id: dict[str, str] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)
    attempts: deque[str] = field(default_factory=deque)
    lookups: deque[str] = field(default_factory=deque)
    fill_ratio: float = 1.0
    sent: list[tuple[str, float]] = field(default_factory=list)

    def create_order(self, symbol: str, type: str, side: str, amount: float,  # noqa: A002
                     price: float | None = None, params: dict[str, Any] | None = None) -> Any:
        client_id = (params or {})["client_order_id"]
        assert client_id not in self.rejected, (
            f"client_order_id {client_id} was rejected and is sent again")
        self.sent.append((client_id, self.now[0]))
        outcome = self.attempts.popleft() if self.attempts else ANSWERED
        if outcome == LOST_BEFORE:
            raise ccxt.RequestTimeout("coinbase POST orders timed out")
        if outcome == RATE_LIMITED:
            raise ccxt.RateLimitExceeded("429 Too Many Requests")
        known = self.by_client_id.get(client_id)
        if known is None and outcome == REJECTED:
            self.rejected.add(client_id)
            raise ccxt.InsufficientFunds("INSUFFICIENT_FUND: Insufficient balance in source account")
        order = self.orders[known] if known else self._accept(client_id, symbol, type, side, amount)
        if outcome == LOST_AFTER:
            raise ccxt.RequestTimeout("coinbase POST orders timed out")
        if outcome == FAILED_AFTER:
            raise ccxt.ExchangeNotAvailable("503 Service Unavailable")
        return {"id": order.id, "clientOrderId": client_id, "status": "open", "filled": None}

    def _accept(self, client_id: str, symbol: str, type: str, side: str,  # noqa: A002
                amount: float) -> ExchangeOrder:
        order_id = f"o{len(self.orders) + 1}"
        order = ExchangeOrder(order_id, client_id, symbol, side, type, amount, "open", 0.0)
        if type == "market":  # IOC: filled now, or partly filled and the rest cancelled
            order.filled = amount * self.fill_ratio
            order.status = "closed" if self.fill_ratio == 1.0 else "canceled"
        self.orders[order_id] = order
        self.by_client_id[client_id] = order_id
        return order

    def fetch_order(self, order_id: str, symbol: str) -> Any:
        outcome = self.lookups.popleft() if self.lookups else "answered"
        if outcome == "not found" or order_id not in self.orders:
            raise ccxt.OrderNotFound(f"coinbase order {order_id} not found")
        if outcome == "5xx":
            raise ccxt.ExchangeNotAvailable("502 Bad Gateway")
        if outcome == "timeout":
            raise ccxt.RequestTimeout("coinbase GET order timed out")
        if outcome == "error":
            raise ccxt.ExchangeError("INTERNAL: unknown error")
        return self.orders[order_id].unified()


@dataclass
class Intent:
    """freqtrade's calls for one order of (pair, side) until one had a definite answer."""

    client_ids: set[str] = field(default_factory=set)
    last_unknown: float | None = None  # when the guard last remembered the id

    def orders(self, exchange: Coinbase) -> set[str]:
        return {exchange.by_client_id[c] for c in self.client_ids if c in exchange.by_client_id}


class CreateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = [1_800_000_000.0]
        self.exchange = Coinbase(self.now)
        api = self.exchange
        idempotent_create.guard(api, clock=lambda: self.now[0], sleep=self._sleep)
        market_fill.guard(api)  # the cap mixin's order: market_fill wraps idempotent_create
        self.api = api
        self.intents: dict[tuple[str, str], Intent] = {}
        self.finished: list[Intent] = []

    def _sleep(self, seconds: float) -> None:
        self.now[0] += seconds

    @rule(pair=st.sampled_from(["BTC/USD", "ETH/USD"]), side=st.sampled_from(["buy", "sell"]),
          kind=st.sampled_from(["market", "limit"]),
          attempts=st.lists(ATTEMPT, min_size=ATTEMPTS, max_size=ATTEMPTS),
          lookup=LOOKUP, fill=st.sampled_from([1.0, 0.5, 0.0]))
    def create(self, pair: str, side: str, kind: str, attempts: list[str], lookup: str,
               fill: float) -> None:
        """One freqtrade create (an entry or an exit): no retry of its own, an exception is
        "Unable to create", an order is recorded (and, when final, processed at once)."""
        intent = self._intent(pair, side)
        self.exchange.attempts, self.exchange.lookups = deque(attempts), deque([lookup])
        self.exchange.fill_ratio = fill
        before = len(self.exchange.sent)
        try:
            answer = self.api.create_order(pair, kind, side, 1.0, 100.0)
        except ccxt.NetworkError:
            answer = None
        except ccxt.BaseError as exc:
            intent.client_ids |= {c for c, _ in self.exchange.sent[before:]}
            assert not intent.orders(self.exchange), (
                f"freqtrade was told {type(exc).__name__} ({exc}) but the exchange holds "
                f"{intent.orders(self.exchange)} for this {side} of {pair}")
            self._finish(pair, side)
            return
        sent = self.exchange.sent[before:]
        intent.client_ids |= {c for c, _ in sent}
        if answer is None:
            intent.last_unknown = sent[-1][1] if sent else intent.last_unknown
            return
        self._check_answer(intent, answer, kind, lookup)
        self._finish(pair, side)

    def _intent(self, pair: str, side: str) -> Intent:
        intent = self.intents.get((pair, side))
        if intent is not None and intent.last_unknown is not None \
                and self.now[0] - intent.last_unknown > PENDING_TTL_S:
            self._finish(pair, side)  # the guard forgot the id: an accepted loss (module doc)
            intent = None
        return self.intents.setdefault((pair, side), intent or Intent())

    def _finish(self, pair: str, side: str) -> None:
        self.finished.append(self.intents.pop((pair, side)))

    def _check_answer(self, intent: Intent, answer: Any, kind: str, lookup: str) -> None:
        orders = intent.orders(self.exchange)
        assert answer.get("id") in orders, (
            f"freqtrade got order {answer.get('id')}; the intent's orders are {orders}")
        order = self.exchange.orders[answer["id"]]
        if answer.get("status") in market_fill.FINAL:
            assert (answer["status"], answer.get("filled")) == (order.status, order.filled), (
                f"freqtrade sees {answer}, the exchange {order}")
        elif order.type == "market" and kind == "market" and lookup == "answered":
            raise AssertionError(f"a market order whose lookup answered came back without "
                                 f"its fill: {answer}, the exchange {order}")

    @rule(seconds=st.sampled_from([60.0, PENDING_TTL_S, 1.0, PENDING_TTL_S + 0.01, 3600.0]))
    def tick(self, seconds: float) -> None:
        self.now[0] += seconds

    @invariant()
    def one_order_per_intent(self) -> None:
        for intent in [*self.intents.values(), *self.finished]:
            orders = intent.orders(self.exchange)
            assert len(orders) <= 1, f"one intent, exchange orders {sorted(orders)}"


def test_create_machine() -> None:
    run_state_machine_as_test(CreateMachine, settings=SETTINGS)
