"""Trim execution: a planned round handed to freqtrade as partial exits, fills and time-outs.

What the planned orders are is :mod:`trader247.core.trims`; what freqtrade's order rows say
about them is :mod:`trader247.adapters.trim_settlement`.

- :meth:`TrimExecutor.trim` answers ``adjust_trade_position`` for one trade: the round's order for
  its pair as a negative stake tagged ``trim`` (written ahead: a trim whose state could not be
  persisted is not placed);
- :meth:`order_filled` records a trim fill's latency (a partly filled trim is partial, its
  remainder re-planned);
- :meth:`settle` settles rejected trims and trims closed unseen, each iteration (live, dry-run);
- :meth:`cancels_entry` answers ``check_entry_timeout``: open entries are cancelled first while
  REDUCING;
- :meth:`timed_out` answers ``check_exit_timeout``: a trim order older than
  ``trim_timeout_seconds`` is cancelled and re-planned in a later round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trader247.adapters.cap_controller import TRIM_TAG, CapController, stake_to_return
from trader247.adapters.trim_settlement import (
    cancel_entry_while_reducing,
    record_trim_fill,
    settle_trims,
)

logger = logging.getLogger(__name__)


@dataclass
class TrimExecutor:
    """``record_latency(seconds)`` feeds the trim-latency metric."""

    controller: CapController
    record_latency: Callable[[float], None]

    def trim(self, trade: Any, now: datetime) -> tuple[float, str] | None:
        order = self.controller.trim_for(trade.pair)
        if order is None:
            return None
        if trade.has_open_orders:
            return None  # freqtrade would refuse it anyway; the next round re-plans this pair
        if not self.controller.trim_placed(order, now.timestamp()):
            logger.warning("TRIM_SKIPPED: pair=%s reason=state_not_persisted (re-planned in a "
                           "later round)", trade.pair)
            return None
        return stake_to_return(order, float(trade.stake_amount), float(trade.amount)), TRIM_TAG

    def order_filled(self, pair: str, order: Any, now: datetime) -> None:
        if order.ft_order_tag != TRIM_TAG:
            return
        # A trim closed with only part of it filled is partial, not complete (trim_settlement).
        latency = record_trim_fill(self.controller, pair, order, now.timestamp())
        if latency is not None:
            logger.info("trim filled: pair=%s latency=%.1fs", pair, latency)
            self.record_latency(latency)

    def settle(self, open_trades: list[Any], now: datetime) -> None:
        """Rejected trims and trims closed while we did not look
        (``trim_settlement.settle_trims``)."""
        settle_trims(self.controller, open_trades, now.timestamp())

    def cancels_entry(self, pair: str, order: Any, trade: Any) -> bool:
        """``check_entry_timeout``: True cancels this open entry order while REDUCING."""
        return cancel_entry_while_reducing(self.controller, pair, order, trade)

    def timed_out(self, pair: str, order: Any, now: datetime) -> bool:
        """A trim order older than ``trim_timeout_seconds`` is cancelled, whatever the trim
        state says: the planner may already have expired it (and counted it failed) this
        iteration. So is a younger trim order whose trim the state no longer holds: a
        replacement freqtrade placed after its trim began, expired by the planner with it (the
        next round plans that stake again; left open, it would be sold twice)."""
        if order.ft_order_tag != TRIM_TAG:
            return False
        age = now.timestamp() - order.order_date_utc.timestamp()
        held = pair in self.controller.trim_state.open_trims
        if age <= self.controller.policy.trim_timeout_seconds and held:
            return False
        logger.warning("trim timed out: pair=%s after %.0fs, cancelling and re-planning%s", pair,
                       age, "" if held else " (its trim had expired)")
        if held:
            self.controller.trim_cancelled(pair)
        return True
