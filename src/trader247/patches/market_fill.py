"""Market orders are reported with their fill: the live bot sees a trim fill in the same iteration.

Coinbase answers a create with the order id only (ccxt: status ``open``), although a market order
is an IOC order the exchange has already filled (or cancelled) when the answer arrives. freqtrade
processes an order inline only when the create answer says it is closed
(``FreqtradeBot.execute_entry`` / ``execute_trade_exit``); otherwise it looks again in the next
iteration's ``manage_open_orders``, one ``process_throttle_secs`` later. Two effects in live mode:

- a trim's round trip (placed -> fill seen, ``trim_timeout_seconds`` is measured against it) is
  one whole iteration (5 s with the shipped ``process_throttle_secs``) instead of ~0.1 s;
- in between, the exchange has spent a market buy's stake while freqtrade's order is still open:
  the cap measures that stake as at risk but not as equity (it is in neither the balance nor a
  position) and can flip to REDUCING for one iteration.

The patch wraps the live ccxt instance's ``create_order`` (after ``idempotent_create``): for a
``market`` order whose answer is not final it fetches the order once (one extra private GET per
market order) and returns that, so freqtrade records the fill at once. A failed fetch returns
the create's own answer (freqtrade then polls as before). Limit orders are untouched.
``TRADER247_MARKET_FILL=0`` disables it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from trader247.interrupts import raise_interrupt
from trader247.patches.live_api import unguarded_live_api

log = logging.getLogger(__name__)

DISABLE_ENV = "TRADER247_MARKET_FILL"
FINAL = frozenset({"closed", "canceled", "cancelled", "expired", "rejected"})
_GUARDED = "_trader247_market_fill"


def guard(api: Any) -> None:
    """Wrap ``api.create_order`` (a ccxt exchange instance); idempotent itself."""
    if getattr(api, _GUARDED, False):
        return
    import ccxt

    original = api.create_order

    def create_order(symbol: str, type: str, side: str, amount: float,  # noqa: A002 - ccxt
                     price: float | None = None, params: dict[str, Any] | None = None) -> Any:
        order = original(symbol, type, side, amount, price, params)
        if type != "market" or not isinstance(order, dict) or not order.get("id") \
                or order.get("status") in FINAL:
            return order
        since = sys.exception()
        try:
            fetched = api.fetch_order(order["id"], symbol)
        except ccxt.BaseError as exc:
            raise_interrupt(exc, since=since)  # a SIGTERM in the fetch is not "poll later"
            log.info("market order %s on %s: fill not fetched (%s), freqtrade polls it",
                     order["id"], symbol, exc.__class__.__name__)
            return order
        return fetched if isinstance(fetched, dict) and fetched.get("id") == order["id"] else order

    api.create_order = create_order
    setattr(api, _GUARDED, True)


def install(exchange: Any) -> bool:
    """Guard a live bot's ccxt instance (``exchange._api``); False when dry-run, disabled or
    already guarded."""
    api = unguarded_live_api(exchange, DISABLE_ENV, _GUARDED)
    if api is None:
        return False
    guard(api)
    log.info("trader247 patch market_fill installed: a market order's create answer carries "
             "its fill (one fetch), so freqtrade records it in the same iteration")
    return True
