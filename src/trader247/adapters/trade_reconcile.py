"""Start-up reconciliation: an open trade's amount is what its filled orders say it is.

Freqtrade 2026.9 commits an order's fill (``trade.update_order`` -> ``Order.update_orders`` ->
``Trade.commit()``) before it applies that fill to the trade (``trade.update_trade``: amount,
stake, realised profit). A ``kill -9`` in between leaves a closed exit order that nothing
applies again (closed orders are never processed again), so the trade keeps its pre-fill
amount: the cap over-measures exposure and a full exit would try to sell more than is held
(the restart suite's kill between fill commit and fill processing).

At start-up (``ExposureCapMixin.ft_bot_start``, dry-run and live) every open trade without an
open order whose amount differs from its filled orders is recalculated with freqtrade's own
``recalc_trade_from_orders`` and logged as ``TRADE_RECONCILED: pair=... amount_before=...
amount_after=...``. When the orders say nothing is held any more (an unapplied full exit) the
trade is closed with freqtrade's own ``Trade.close`` at that exit's price (``closed=true``).
Trades with open orders are left to freqtrade, which settles them when the order closes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

from freqtrade.exchange import amount_to_contract_precision
from freqtrade.persistence import Trade
from freqtrade.util import FtPrecise

logger = logging.getLogger(__name__)

REL_TOL = 1e-9


def held_by_orders(trade: Any) -> float:
    """Entries minus exits over filled, closed orders, summed exactly as
    ``recalc_trade_from_orders`` sums them (``FtPrecise``: in floats 0.1 + 0.2 - 0.3 is 5.6e-17,
    which left a fully exited trade without an amount precision open, reconciled again at every
    start), rounded to the trade's amount precision."""
    held = FtPrecise(0)
    for order in trade.orders:
        if order.ft_is_open or not order.filled:
            continue
        amount = FtPrecise(order.safe_amount_after_fee)
        held = held - amount if order.ft_order_side != trade.entry_side else held + amount
    return float(amount_to_contract_precision(
        float(held), trade.amount_precision, trade.precision_mode, trade.contract_size))


def reconcile_open_trades(trades: Iterable[Any]) -> list[str]:
    """Recalculate the trades whose amount disagrees with their orders; returns their pairs."""
    fixed = []
    for trade in trades:
        if trade.has_open_orders:
            continue
        held = held_by_orders(trade)
        before = float(trade.amount)
        # held is an exact sum: a trade of float dust whose orders hold nothing is closed too
        if math.isclose(held, before, rel_tol=REL_TOL):
            continue
        closed = held <= 0
        if closed:
            last_exit = [o for o in trade.orders if not o.ft_is_open and o.filled
                         and o.ft_order_side != trade.entry_side]
            trade.close(float(last_exit[-1].safe_price) if last_exit else float(trade.open_rate))
        else:
            trade.recalc_trade_from_orders()
        logger.warning("TRADE_RECONCILED: pair=%s trade_id=%s amount_before=%.10g "
                       "amount_after=%.10g%s", trade.pair, trade.id, before,
                       0.0 if closed else float(trade.amount), " closed=true" if closed else "")
        fixed.append(trade.pair)
    if fixed:
        Trade.commit()
    return fixed
