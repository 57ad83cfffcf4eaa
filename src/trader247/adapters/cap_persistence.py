"""The cap's state saved and restored: at start, write-ahead of a trim, at shutdown.

When and what to write; stored as JSON under :data:`STATE_KEY` in
:mod:`trader247.adapters.state_store` (dry-run and live only). A write that fails never stops
the bot: it is logged (``CAP_STATE_NOT_PERSISTED``, at most once a minute, with the count) and
the next change writes the whole state again. The write-ahead of a trim is the exception that
fails closed: the controller does not place a trim whose state could not be written
(``CapController.trim_placed``), so a restart can never trim the same pair twice because the
record of the first trim was lost.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable

from freqtrade.persistence import Trade
from sqlalchemy.exc import SQLAlchemyError

from trader247.adapters.cap_controller import TRIM_TAG, CapController
from trader247.adapters.state_store import StateStore, StateWriteError
from trader247.interrupts import raise_interrupt

logger = logging.getLogger(__name__)

STATE_KEY = "trader247_cap_state"  # also the KeyValueStore key of earlier versions
REPORT_EVERY_SECONDS = 60.0


class CapStatePersistence:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.failures = 0
        self._reported_at = -REPORT_EVERY_SECONDS

    def restore(self, controller: CapController) -> bool:
        """True when a saved state was applied; unreadable state is logged and ignored."""
        since = sys.exception()
        try:
            saved = self.store.load(STATE_KEY, legacy_key=STATE_KEY)
        except SQLAlchemyError as exc:
            raise_interrupt(exc, since=since)
            logger.error("cap state could not be read (%s): starting fresh", exc)
            return False
        if not saved:
            return False
        try:
            controller.restore(json.loads(saved))
        except (ValueError, KeyError, TypeError) as exc:
            logger.error("cap state in the database is unreadable (%s): starting fresh", exc)
            return False
        return True

    def restore_and_settle(self, controller: CapController) -> None:
        """Restore at start; trims the orders table shows filled before the restart (a kill
        between freqtrade's fill commit and our state write) are settled, not left open."""
        if not self.restore(controller):
            return
        settled = controller.reconcile_fills(trim_fills(controller.trim_state.open_trims))
        if settled:
            logger.info("cap state: trims filled before the restart: %s", ",".join(settled))
        logger.info("cap state restored: cycle=%d open_trims=%s state=%s", controller.cycle,
                    sorted(controller.trim_state.open_trims), controller.state.value)

    def persist(self, controller: CapController) -> bool:
        """Write the whole state; False (logged) when the database refused it."""
        try:
            self.store.save(STATE_KEY, json.dumps(controller.to_dict()))
        except StateWriteError as exc:
            self.failures += 1
            now = time.monotonic()
            if now - self._reported_at >= REPORT_EVERY_SECONDS:
                self._reported_at = now
                logger.error("CAP_STATE_NOT_PERSISTED: failures=%d reason=%s (the bot keeps "
                             "running; trims wait until the state can be written)",
                             self.failures, exc)
            return False
        if self.failures:
            logger.info("cap state persisted again after %d failed writes", self.failures)
            self.failures = 0
        return True


def trim_fills(pairs: Iterable[str]) -> dict[str, float]:
    """Fill time of the newest filled trim order per pair, from freqtrade's own trades and
    orders (``Trade.get_trades_proxy``: open trades and closed ones, since a full-exit trim
    closes its trade). Called once, at start-up, for the pairs with an open trim."""
    fills: dict[str, float] = {}
    for pair in pairs:
        times = [order.order_filled_utc.timestamp()
                 for trade in Trade.get_trades_proxy(pair=pair) for order in trade.orders
                 if order.ft_order_tag == TRIM_TAG and order.status == "closed"
                 and order.filled and order.order_filled_date is not None]
        if times:
            fills[pair] = max(times)
    return fills
