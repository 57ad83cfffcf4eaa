"""Per-bot cap state between freqtrade callbacks: one object, one exposure definition.

Freqtrade calls the strategy at several points per iteration (``bot_loop_start``, then
``adjust_trade_position`` per open trade, ``custom_stake_amount`` / ``confirm_trade_entry`` per
entry, ``order_filled``, ``check_exit_timeout``). This controller keeps the trim state and the plan
of the current round between those calls and routes every question to the core, so the entry gate,
the trimmer, the protection and the metrics all read the same :class:`Exposure`.

It imports nothing from freqtrade: the mixin hands it plain numbers, so it is unit-tested directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trader247.core.clusters import gate_entry
from trader247.core.exposure import (
    CapPolicy,
    CapState,
    EntryDecision,
    Exposure,
    Snapshot,
    over_cap_reason,
)
from trader247.core.trims import (
    TrimOrder,
    TrimPlan,
    TrimState,
    format_plan_line,
    in_cooldown,
    needs_min_stakes,
    on_trim_cancelled,
    on_trim_filled,
    on_trim_placed,
    on_trim_rejected,
    plan_trims,
    reconcile_fills,
)
from trader247.core.words import Word

logger = logging.getLogger(__name__)

TRIM_TAG = "trim"


@dataclass
class CapEvents:
    """What changed in one evaluation, for locks, chat messages and metrics."""

    state_changed: bool = False
    state: CapState = CapState.ACTIVE
    lock_reason: str | None = None
    plan_line: str | None = None
    expired_pairs: tuple[str, ...] = ()


@dataclass
class CapController:
    policy: CapPolicy
    stake_currency: str
    cycle_seconds: float
    trim_state: TrimState = field(default_factory=TrimState)
    cycle: int = 0
    last_plan: TrimPlan | None = None
    last_exposure: Exposure | None = None
    trim_latencies: list[float] = field(default_factory=list)
    # Persists the state; returns False when that failed (see trim_placed).
    on_change: Callable[[], bool] | None = None
    _round: dict[str, TrimOrder] = field(default_factory=dict)

    @property
    def state(self) -> CapState:
        return self.trim_state.cap_state

    def evaluate(
        self, snapshot: Snapshot, min_stake: Mapping[str, float] | float, now: float
    ) -> CapEvents:
        """Once per bot iteration (per candle in backtesting)."""
        self.cycle += 1
        previous = self.trim_state.cap_state
        first = not self.trim_state.started
        plan = plan_trims(snapshot, self.policy, min_stake=min_stake, state=self.trim_state,
                          cycle=self.cycle, now=now)
        self.trim_state = plan.trim_state
        self.last_plan = plan
        self.last_exposure = plan.exposure
        self._round = {order.pair: order for order in plan.orders}
        events = CapEvents(state=plan.state, expired_pairs=plan.expired_pairs,
                           state_changed=plan.state is not previous)
        if plan.state is CapState.REDUCING:
            events.lock_reason = over_cap_reason(plan.exposure)
            if events.state_changed or first:
                events.plan_line = format_plan_line(
                    plan, self.policy, stake_currency=self.stake_currency,
                    cycle_seconds=self.cycle_seconds)
        if plan.orders or plan.expired_pairs or events.state_changed:
            self._changed()
        return events

    def gate_entry(
        self, pair: str, proposed_stake: float, snapshot: Snapshot, *,
        min_stake: float | None, max_stake: float,
    ) -> EntryDecision:
        """Clamp an entry to the headroom, measured now (earlier entries this iteration count):
        the total's, and the pair's cluster and asset headroom when those caps are set."""
        if in_cooldown(self.trim_state, pair, self.cycle):
            return EntryDecision(None, f"{Word.TRIM_COOLDOWN}: pair={pair} cycle={self.cycle}")
        return gate_entry(pair, proposed_stake, snapshot, self.policy, self.state,
                          min_stake=min_stake, max_stake=max_stake)

    def needs_min_stakes(self, snapshot: Snapshot) -> bool:
        """Whether this evaluation may trim (total or a cluster / asset cap): the adapter then
        looks up the exchange minimums and re-marks at current prices."""
        return needs_min_stakes(snapshot, self.policy, self.trim_state)

    def trim_for(self, pair: str) -> TrimOrder | None:
        """The order of this round for ``pair``, handed out once."""
        return self._round.pop(pair, None)

    def hand_out(self, orders: tuple[TrimOrder, ...]) -> None:
        """Fleet: trims the leader planned for this bot's own trades join this round."""
        self._round.update({order.pair: order for order in orders})

    def trim_placed(self, order: TrimOrder, now: float) -> bool:
        """Record a trim about to be handed to the exchange, written ahead. False when the
        write-ahead failed: the trim is then not placed and the state stays as it was (fail
        closed: a trim the database does not know of could be placed twice after a restart).
        """
        before = self.trim_state
        self.trim_state = on_trim_placed(self.trim_state, order, now=now, cycle=self.cycle,
                                         policy=self.policy)
        if self._changed():
            return True
        self.trim_state = before
        return False

    def trim_adopted(self, order: TrimOrder, placed_at: float) -> None:
        """An open trim order the state did not hold (``trim_settlement.adopt_trim_orders``): held
        back from now on, also when the state cannot be written (unlike ``trim_placed``: the
        order exists either way, and a restart adopts it again)."""
        self.trim_state = on_trim_placed(self.trim_state, order, now=placed_at, cycle=self.cycle,
                                         policy=self.policy)
        self._changed()

    def trim_filled(self, pair: str, now: float, *, complete: bool = True) -> float | None:
        """A trim order closed with a fill; ``complete`` False when only part of it filled."""
        self.trim_state, latency = on_trim_filled(self.trim_state, pair, now, complete=complete)
        if latency is not None:
            self.trim_latencies.append(latency)
            del self.trim_latencies[:-1000]
        self._changed()
        return latency

    def trim_cancelled(self, pair: str) -> None:
        self.trim_state = on_trim_cancelled(self.trim_state, pair)
        self._changed()

    def trim_rejected(self, pair: str) -> None:
        """The exchange (or freqtrade) refused the trim: no order exists for it."""
        self.trim_state = on_trim_rejected(self.trim_state, pair)
        self._changed()

    def cancels_entry(self, pair: str) -> bool:
        """True while REDUCING for a pair with an open entry order: cancel it (cheaper than
        selling). Read from this iteration's plan."""
        plan = self.last_plan
        return (self.state is CapState.REDUCING and plan is not None
                and pair in plan.cancel_entries)

    def reset(self) -> None:
        """Back to a fresh start (a new backtest run in the same process); the object stays,
        so the protection linked to it keeps reading the live state."""
        self.trim_state = TrimState()
        self.cycle = 0
        self.last_plan = None
        self.last_exposure = None
        self.trim_latencies.clear()
        self._round = {}

    def to_dict(self) -> dict[str, Any]:
        return {"cycle": self.cycle, "trim_state": self.trim_state.to_dict()}

    def restore(self, data: Mapping[str, Any]) -> None:
        self.trim_state = TrimState.from_dict(data["trim_state"])
        self.cycle = int(data.get("cycle", 0))

    def reconcile_fills(self, fills: Mapping[str, float]) -> list[str]:
        """Mark open trims filled that the database shows filled; returns those pairs."""
        before = set(self.trim_state.open_trims)
        self.trim_state = reconcile_fills(self.trim_state, fills)
        settled = sorted(before - set(self.trim_state.open_trims))
        if settled:
            self._changed()
        return settled

    def _changed(self) -> bool:
        return self.on_change() if self.on_change is not None else True


def stake_to_return(order: TrimOrder, trade_stake_amount: float, trade_amount: float) -> float:
    """Freqtrade turns a negative stake into an amount with the trade's cost basis
    (``stake * trade.amount / trade.stake_amount``), not the mark price."""
    if order.full_exit or trade_amount <= 0:
        return -trade_stake_amount
    return -min(order.amount, trade_amount) * trade_stake_amount / trade_amount
