"""Trim settlement: freqtrade's order rows read back as trim outcomes, in plain values.

Filled, partial, rejected, adopted; execution is :mod:`~trader247.adapters.cap_trims`. (Its
first name, ``live_trims``, read like the live-mode benchmark ``bench/live_trims.py`` and like
live mode only; it runs in dry-run alike.)

Three questions the cap needs answered from freqtrade's ``Order`` / ``Trade`` rows, kept out of
the mixin so that it only forwards (each function takes the :class:`CapController` and the
freqtrade objects of one callback):

- ``record_trim_fill`` (``order_filled``): did the trim order fill completely? freqtrade calls
  ``order_filled`` for every order that leaves the open states, also for an IOC market sell
  that the book filled in part (Coinbase: ``CANCELLED`` with ``filled_size`` > 0) and for a
  limit sell cancelled after a partial fill. Such a trim is partial, not complete
  (``core.trims``, "Partial fills").
- ``cancel_entry_while_reducing`` (``check_entry_timeout``): freqtrade's own cancellation path
  for an open entry order -- returning True makes ``manage_open_orders`` call
  ``handle_cancel_enter`` (a partly filled entry keeps its filled part as the position). While
  REDUCING the cap cancels every open entry order before it sells anything.
- ``settle_trims`` (``bot_loop_start``): a trim is recorded (written ahead) before freqtrade
  creates its order; when freqtrade then creates nothing (the exchange refused the create --
  "order size too small" --, freqtrade's own limits turned the amount into 0, or an error
  aborted the iteration) no order of the trade carries the trim's tag since it was placed.
  That trim is rejected at the next iteration instead of being waited for until
  ``trim_timeout_seconds``. A trim whose order is closed while the state still has it open
  (a restart after a partial fill) is settled from that order. An open trim order whose trim
  the state does not hold is adopted as an open trim (``adopt_trim_orders``): freqtrade's
  order replacement cancels a partly filled trim (``order_filled`` settles it partial) and
  places the remainder under the same tag; untracked, its stake would be planned again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

from trader247.adapters.cap_controller import TRIM_TAG, CapController
from trader247.core.trims import FILL_MATCH_TOLERANCE_S, TrimOrder

logger = logging.getLogger(__name__)

# Relative: an amount rounded to the exchange's base increment is still "all of it".
_COMPLETE_REL_TOL = 1e-9


def trim_complete(order: Any) -> bool:
    """A trim order filled completely: closed, and nothing of its amount left."""
    amount = float(order.safe_amount or 0.0)
    filled = float(order.safe_filled or 0.0)
    if order.status != "closed" and filled < amount:
        return False
    return math.isclose(filled, amount, rel_tol=_COMPLETE_REL_TOL) or filled >= amount


def record_trim_fill(controller: CapController, pair: str, order: Any, now: float) -> float | None:
    """Record a closed trim order (``order_filled``); returns the placement-to-fill latency."""
    complete = trim_complete(order)
    latency = controller.trim_filled(pair, now, complete=complete)
    if latency is not None and not complete:
        logger.warning(
            "TRIM_PARTIAL: pair=%s filled=%.10g of %.10g (status %s); the remainder is "
            "re-planned in the next round", pair, float(order.safe_filled or 0.0),
            float(order.safe_amount), order.status)  # partial: amount > filled >= 0
    return latency


def cancel_entry_while_reducing(controller: CapController, pair: str, order: Any,
                                trade: Any) -> bool:
    """``check_entry_timeout``: True cancels this open entry order (REDUCING only)."""
    if order.ft_order_side != trade.entry_side or not controller.cancels_entry(pair):
        return False
    logger.warning("ENTRY_CANCELLED exposure_cap: pair=%s order=%s remaining_amount=%.10g "
                   "(REDUCING: "
                   "open entries are cancelled before anything is sold)", pair, order.order_id,
                   float(order.safe_remaining or 0.0))
    return True


def settle_trims(controller: CapController, open_trades: Iterable[Any], now: float) -> list[str]:
    """``bot_loop_start``: settle open trims from the orders of the trades; returns those pairs.

    - no order tagged ``trim`` since the trim was placed: rejected (module doc);
    - its newest such order is closed but the trim is still open (``order_filled`` never reached
      us: a kill -9 between freqtrade's commit and our state write, or an order freqtrade closed
      without calling it): filled, partial or -- nothing filled -- cancelled, as it says.

    Only trades still open are judged: a trim of a closed trade (a full exit) is settled by
    ``order_filled`` or, after a restart, by ``cap_persistence``; anything else by the timeout.
    Then open trim orders the state does not hold are adopted (:func:`adopt_trim_orders`).
    """
    trades = list(open_trades)
    settled = _settle_open_trims(controller, trades, now)
    adopt_trim_orders(controller, trades)
    return settled


def _settle_open_trims(controller: CapController, open_trades: list[Any],
                       now: float) -> list[str]:
    open_trims = controller.trim_state.open_trims
    if not open_trims:
        return []
    settled = []
    for trade in open_trades:
        trim = open_trims.get(trade.pair)
        if trim is None:
            continue
        since = trim.placed_at - FILL_MATCH_TOLERANCE_S
        orders = [o for o in trade.orders
                  if o.ft_order_tag == TRIM_TAG and o.order_date_utc.timestamp() >= since]
        if not orders:
            controller.trim_rejected(trade.pair)
            logger.warning("TRIM_REJECTED: pair=%s no order was created for the trim placed "
                           "%.0fs ago (see freqtrade's error above); the pair sits out this "
                           "REDUCING episode", trade.pair, max(0.0, now - trim.placed_at))
        else:
            newest = max(orders, key=lambda o: o.order_date_utc)
            if newest.ft_is_open:
                continue
            if float(newest.safe_filled or 0.0) > 0:
                record_trim_fill(controller, trade.pair, newest, now)
            else:
                controller.trim_cancelled(trade.pair)
            logger.info("trim settled from the orders table: pair=%s status=%s filled=%.10g",
                        trade.pair, newest.status, float(newest.safe_filled or 0.0))
        settled.append(trade.pair)
    return settled


def adopt_trim_orders(controller: CapController, open_trades: Iterable[Any]) -> list[str]:
    """Record every open trim order of a trade without an open trim as that pair's open trim
    (placed when the order was, its remaining amount at its price held back); returns the
    pairs. Found by the stateful tests: freqtrade's replacement of a partly filled trim order
    left the remainder on sale while the planner sold it again through other pairs."""
    adopted = []
    for trade in open_trades:
        if trade.pair in controller.trim_state.open_trims:
            continue
        orders = [o for o in trade.orders if o.ft_order_tag == TRIM_TAG and o.ft_is_open]
        if not orders:
            continue
        order = max(orders, key=lambda o: o.order_date_utc)
        remaining = float(order.safe_remaining or 0.0)
        # freqtrade's safe_price falls back to ft_price, which is never null
        trim = TrimOrder(trade.pair, remaining * float(order.safe_price), remaining,
                         f"TRIM_ADOPTED: pair={trade.pair} order={order.order_id}")
        controller.trim_adopted(trim, order.order_date_utc.timestamp())
        logger.warning("TRIM_ADOPTED: pair=%s order=%s remaining_amount=%.10g (an open trim "
                       "order the cap did not hold, e.g. freqtrade's replacement of a partly "
                       "filled trim: its stake is held back until it closes)",
                       trade.pair, order.order_id, remaining)
        adopted.append(trade.pair)
    return adopted
