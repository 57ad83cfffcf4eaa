"""Stateful: trims settled from real freqtrade orders ([T] item 2).

One live bot's cap: the real ``CapController``, ``TrimExecutor`` (``cap_trims``, which calls
``trim_settlement``) and ``CapStatePersistence`` (its database replaced by a dict that can refuse a
write), with freqtrade's own ``Trade`` and ``Order`` objects in memory. The machine plays
freqtrade's iteration as its source does it: ``bot_loop_start`` (settle, evaluate), then
``manage_open_orders`` (``check_exit_timeout`` cancels a trim order; an order closed with a fill
reaches ``order_filled``, one cancelled empty does not), then ``adjust_trade_position`` for every
open trade (a negative stake becomes an exit of ``stake * amount / stake_amount``, refused when
what stays behind is under the minimum). Around it the exchange fills, partly fills or cancels
open trim orders, seen by freqtrade or not (a kill between freqtrade's commit and our state
write), freqtrade replaces an open trim order (cancel, then a new order for the remainder under
the same tag), prices move, state writes fail, and the bot restarts from the saved state.

Checks:
- never two open trim orders for one trade, and no trade sells more than it held;
- at ``bot_loop_start`` every open trim of an open trade is settled from ITS order, the last
  one placed for it (a replacement, not the order it replaced): none since the trim -> rejected;
  open -> still open; closed -> filled, partial or (nothing filled) cancelled, as it says;
- after an iteration every open trim order on the exchange is an open trim of the state: its
  stake stays held back, so no other pair is sold for what it is still selling.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest
from freqtrade.persistence import Order, Trade
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.shipped import shipped_cap_policy
from tests.stateful.budget import bounded
from trader247.adapters import cap_persistence
from trader247.adapters.cap_controller import TRIM_TAG, CapController
from trader247.adapters.cap_persistence import CapStatePersistence
from trader247.adapters.cap_trims import TrimExecutor
from trader247.adapters.state_store import StateWriteError
from trader247.core.exposure import Position, Snapshot
from trader247.core.trims import FILL_MATCH_TOLERANCE_S

CAP = shipped_cap_policy(trim_interval_cycles=1)  # 25 %, target 23 %, timeout 75 s, 3 a round
PAIRS = ("A/USD", "B/USD", "C/USD")
MIN_STAKE = 5.0
CYCLE = 5.0
T0 = 1_800_000_000.0
SETTINGS = bounded(max_examples=120, steps=40)
# What the exchange does with a new trim order: filled, IOC half filled, resting, nothing filled.
CREATES = st.sampled_from(["open", "half", "filled", "empty"])
PAIR = st.sampled_from(PAIRS)


def naive(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC).replace(tzinfo=None)


@dataclass
class MemoryStore:
    """``StateStore``'s two calls on a dict; ``fail`` refuses writes as a lost database does."""

    saved: dict[str, str] = field(default_factory=dict)
    fail: bool = False

    def save(self, key: str, value: str) -> None:
        if self.fail:
            raise StateWriteError("OperationalError: the database went away (test)")
        self.saved[key] = value

    def load(self, key: str, legacy_key: str | None = None) -> str | None:
        return self.saved.get(key)


class TrimOrdersMachine(RuleBasedStateMachine):
    current: TrimOrdersMachine | None = None  # for trim_fills' freqtrade query (see the test)

    def __init__(self) -> None:
        super().__init__()
        TrimOrdersMachine.current = self
        self.now, self.ids = T0, count(1)
        self.prices = {"A/USD": 1.0, "B/USD": 10.0, "C/USD": 100.0}
        self.balance = 600.0
        self.trades = {pair: self._trade(pair, 120.0 + 60.0 * i) for i, pair in enumerate(PAIRS)}
        self.held = {pair: t.amount for pair, t in self.trades.items()}
        self.latest: dict[str, Order] = {}  # the trim order placed last per pair
        self.store = MemoryStore()
        self.persistence = CapStatePersistence(self.store)  # type: ignore[arg-type]
        self._start()

    def _trade(self, pair: str, stake: float) -> Trade:
        price = self.prices[pair]
        return Trade(pair=pair, amount=stake / price, stake_amount=stake, open_rate=price,
                     is_open=True, exchange="coinbase", open_date=naive(self.now),
                     fee_open=0.0, fee_close=0.0)

    def _start(self) -> None:
        """A (re)start: a new controller restored from the saved state, as ``cap_build``."""
        self.controller = CapController(policy=CAP, stake_currency="USD", cycle_seconds=CYCLE)
        self.controller.on_change = lambda: self.persistence.persist(self.controller)
        self.persistence.restore_and_settle(self.controller)
        self.executor = TrimExecutor(self.controller, lambda _s: None)

    # ------------------------------------------------------------------ freqtrade's objects
    def open_trades(self) -> list[Trade]:
        return [t for t in self.trades.values() if t.is_open]

    def _order(self, trade: Trade, amount: float) -> Order:
        order = Order(ft_order_side="sell", ft_pair=trade.pair, ft_is_open=True,
                      ft_amount=amount, ft_price=self.prices[trade.pair],
                      order_id=f"x{next(self.ids)}", status="open", symbol=trade.pair,
                      order_type="limit", side="sell", amount=amount, filled=0.0,
                      remaining=amount, price=self.prices[trade.pair],
                      order_date=naive(self.now), ft_order_tag=TRIM_TAG)
        trade.orders.append(order)
        self.latest[trade.pair] = order
        return order

    def _close(self, trade: Trade, order: Order, filled: float, status: str,
               seen: bool = True) -> None:
        """The order leaves the open states with ``filled``; freqtrade books the sale and, when
        something filled and it saw it, calls ``order_filled``."""
        order.filled, order.remaining = filled, order.amount - filled
        order.status, order.ft_is_open = status, False
        if filled > 0:
            order.order_filled_date = naive(self.now)
            trade.stake_amount -= trade.stake_amount * filled / trade.amount
            trade.amount -= filled
            self.balance += filled * self.prices[trade.pair]
            if trade.amount <= 1e-12:
                trade.amount, trade.is_open = 0.0, False
        if seen and filled > 0:
            self.executor.order_filled(trade.pair, order, datetime.fromtimestamp(self.now, UTC))

    def _open_trim(self, trade: Trade) -> Order | None:
        found = [o for o in trade.orders if o.ft_is_open]
        return found[0] if found else None

    # ------------------------------------------------------------------ the iteration
    @rule(created=CREATES, cancel_fill=st.sampled_from([0.5, 0.0, 1.0]))
    def iteration(self, created: str, cancel_fill: float) -> None:
        self.now += CYCLE
        when = datetime.fromtimestamp(self.now, UTC)
        self._bot_loop_start(when)
        for trade in self.open_trades():  # manage_open_orders: check_exit_timeout
            order = self._open_trim(trade)
            if order is not None and self.executor.timed_out(trade.pair, order, when):
                self._close(trade, order, order.amount * cancel_fill,
                            "closed" if cancel_fill == 1.0 else "canceled")
        for trade in self.open_trades():  # process_open_trade_positions
            self._adjust(trade, created, when)
        self._no_forgotten_order()

    def _bot_loop_start(self, when: datetime) -> None:
        before = self.controller.trim_state
        expected = {pair: self._outcome(pair, trim.placed_at)
                    for pair, trim in before.open_trims.items()
                    if pair in self.trades and self.trades[pair].is_open}
        self.executor.settle(self.open_trades(), when)
        self._settled_as_they_say(before, expected)
        self._no_forgotten_order()  # what the planner is about to hold back
        snapshot = Snapshot(self.balance, tuple(
            Position(t.pair, t.amount, self.prices[t.pair]) for t in self.open_trades()))
        self.controller.evaluate(snapshot, {p.pair: MIN_STAKE for p in snapshot.positions},
                                 self.now)

    def _outcome(self, pair: str, placed_at: float) -> str:
        order = self.latest.get(pair)
        if order is None or order.order_date_utc.timestamp() < placed_at - FILL_MATCH_TOLERANCE_S:
            return "rejected"
        if order.ft_is_open:
            return "open"
        if order.safe_filled <= 0:
            return "cancelled"
        return "filled" if order.safe_filled >= order.safe_amount * (1 - 1e-9) else "partial"

    def _settled_as_they_say(self, before: Any, expected: dict[str, str]) -> None:
        after = self.controller.trim_state
        for pair, outcome in expected.items():
            assert (pair in after.open_trims) is (outcome == "open"), (
                f"{pair}: its trim order says {outcome}, the trim is "
                f"{'open' if pair in after.open_trims else 'settled'}")
        outcomes = list(expected.values())
        deltas = (after.filled - before.filled, after.partial - before.partial,
                  after.failed - before.failed)
        wanted = (outcomes.count("filled"), outcomes.count("partial"),
                  outcomes.count("cancelled") + outcomes.count("rejected"))
        assert deltas == wanted, (
            f"settled {expected}: filled/partial/failed moved by {deltas}, the orders say {wanted}")
        for pair, outcome in expected.items():
            assert (pair in after.episode_rejected) is (
                outcome == "rejected" or pair in before.episode_rejected), pair

    def _adjust(self, trade: Trade, created: str, when: datetime) -> None:
        """``adjust_trade_position`` and freqtrade's partial exit from its answer."""
        answer = self.executor.trim(trade, when)
        if answer is None:
            return
        stake, tag = answer
        assert tag == TRIM_TAG and stake < 0
        amount = min(-stake * trade.amount / trade.stake_amount, trade.amount)
        left = (trade.amount - amount) * self.prices[trade.pair]
        if 0 < left < MIN_STAKE:
            return  # freqtrade: "Remaining amount would be smaller than the minimum"
        assert self._open_trim(trade) is None, f"a second open trim order for {trade.pair}"
        order = self._order(trade, amount)
        if created == "filled":
            self._close(trade, order, amount, "closed")
        elif created == "half":
            self._close(trade, order, amount / 2, "canceled")
        elif created == "empty":
            self._close(trade, order, 0.0, "canceled")

    def _no_forgotten_order(self) -> None:
        open_trims = self.controller.trim_state.open_trims
        for trade in self.open_trades():
            order = self._open_trim(trade)
            assert order is None or trade.pair in open_trims, (
                f"{trade.pair}: trim order {order.order_id} is open on the exchange but the "
                "cap no longer holds its stake back")

    # ------------------------------------------------------------------ the world
    @rule(pair=PAIR, kind=st.sampled_from(["half open", "filled", "half", "cancelled"]),
          seen=st.sampled_from([False, True]))
    def exchange(self, pair: str, kind: str, seen: bool) -> None:
        """The exchange fills or cancels an open trim order; freqtrade sees it (and calls
        ``order_filled``) or not."""
        trade = self.trades[pair]
        order = self._open_trim(trade)
        if order is None:
            return
        if kind == "half open":
            order.filled = order.amount / 2
            order.remaining = order.amount / 2
            return
        filled = {"filled": order.amount, "half": order.amount / 2,
                  "cancelled": order.safe_filled}[kind]
        self._close(trade, order, filled, "closed" if kind == "filled" else "canceled", seen)

    @rule(pair=PAIR)
    def replace(self, pair: str) -> None:
        """freqtrade replaces an open trim order: cancelled (what filled is booked), a new
        order for the remainder under the same tag."""
        trade = self.trades[pair]
        order = self._open_trim(trade)
        if order is None:
            return
        self.now += 1.0  # a cancel's round trip: the replacement is placed later
        rest = order.amount - order.safe_filled
        self._close(trade, order, order.safe_filled, "canceled")
        if rest > 0 and trade.is_open:
            self._order(trade, rest)

    @rule(pair=PAIR, factor=st.sampled_from([1.5, 0.7]))
    def price(self, pair: str, factor: float) -> None:
        self.prices[pair] *= factor

    @rule(seconds=st.sampled_from([80.0, 1.0, 30.0]))
    def tick(self, seconds: float) -> None:
        self.now += seconds

    @rule(fail=st.booleans())
    def state_writes(self, fail: bool) -> None:
        self.store.fail = fail

    @rule()
    def restart(self) -> None:
        self._start()

    # ------------------------------------------------------------------ invariants
    @invariant()
    def one_open_trim_order_and_nothing_oversold(self) -> None:
        for pair, trade in self.trades.items():
            assert sum(o.ft_is_open for o in trade.orders) <= 1, pair
            sold = sum(o.safe_filled for o in trade.orders)
            assert sold <= self.held[pair] * (1 + 1e-9), f"{pair}: sold {sold} of {self.held[pair]}"
            booked = sum(o.safe_filled for o in trade.orders if not o.ft_is_open)
            assert math.isclose(trade.amount + booked, self.held[pair], rel_tol=1e-9,
                                abs_tol=1e-9)


class TradesFromMachine:
    """``Trade.get_trades_proxy`` for ``cap_persistence.trim_fills``: the machine's trades."""

    @staticmethod
    def get_trades_proxy(pair: str) -> list[Trade]:
        machine = TrimOrdersMachine.current
        return [machine.trades[pair]] if machine and pair in machine.trades else []


def test_trim_orders_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cap_persistence, "Trade", TradesFromMachine)
    run_state_machine_as_test(TrimOrdersMachine, settings=SETTINGS)


def test_state_round_trips_through_json() -> None:
    """The saved state the machine restarts from is what ``persist`` writes (JSON)."""
    machine = TrimOrdersMachine()
    machine.iteration("open", 0.0)
    saved = json.loads(machine.store.saved[cap_persistence.STATE_KEY])
    assert saved["trim_state"]["open_trims"] == {
        pair: {"placed_at": t.placed_at, "stake": t.stake, "cycle": t.cycle}
        for pair, t in machine.controller.trim_state.open_trims.items()}
