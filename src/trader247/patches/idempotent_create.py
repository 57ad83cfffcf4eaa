"""Idempotent order creation for live bots: an ambiguous create never becomes two orders.

Coinbase treats ``client_order_id`` as an idempotency key: a create with an id it has seen
returns the order it accepted under that id and places nothing. Stock freqtrade + ccxt do not use
it: ccxt sends a fresh random id on every call and freqtrade never retries a create, so when the
answer is lost *after* Coinbase accepted the order (a 5xx from its edge, a time-out), freqtrade
logs "Unable to create trade", knows nothing of the order, and the next entry signal places a
second one -- an orphaned position the bot never manages (reproduced on the replay exchange).

The guard wraps the live ccxt instance's ``create_order`` (installed on the bot's own exchange
object by the cap mixin, the part of ours that places orders, see :func:`install`; dry-run is
untouched):

- every create carries a ``client_order_id`` (the name Coinbase's API and ccxt's coinbase class
  use; ccxt ignores its unified ``clientOrderId`` there);
- a failure that leaves the outcome unknown (ccxt ``NetworkError``: 5xx, time-out, 429) is
  retried with the same id (``RETRY_DELAYS_S``), so the exchange answers with the order it
  accepted, if any;
- if the outcome is still unknown, the id is kept for that (pair, side) and the next create of
  that pair and side within ``PENDING_TTL_S`` reuses it: the bot receives the accepted order
  instead of placing a duplicate;
- a definite answer (an order, or a rejection such as ``InsufficientFunds``) forgets the id.

``TRADER247_IDEMPOTENT_CREATE=0`` disables it (rollback by configuration).
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trader247.interrupts import raise_interrupt
from trader247.patches.live_api import unguarded_live_api

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 1.5)
PENDING_TTL_S = 15 * 60.0
DISABLE_ENV = "TRADER247_IDEMPOTENT_CREATE"
_GUARDED = "_trader247_idempotent_create"


@dataclass
class PendingCreates:
    """Client order ids whose create had no definite answer, per (pair, side); time passed in."""

    ttl_s: float = PENDING_TTL_S
    _ids: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)

    def take(self, pair: str, side: str, now: float) -> str | None:
        found = self._ids.get((pair, side))
        if found is None or now - found[1] > self.ttl_s:
            self._ids.pop((pair, side), None)
            return None
        return found[0]

    def remember(self, pair: str, side: str, client_order_id: str, now: float) -> None:
        self._ids[(pair, side)] = (client_order_id, now)

    def forget(self, pair: str, side: str) -> None:
        self._ids.pop((pair, side), None)


def new_client_order_id() -> str:
    return f"t247-{uuid.uuid4()}"


def guard(api: Any, *, clock: Callable[[], float] = time.time,
          sleep: Callable[[float], None] = time.sleep) -> None:
    """Make ``api.create_order`` (a ccxt exchange instance) idempotent; idempotent itself."""
    if getattr(api, _GUARDED, False):
        return
    import ccxt

    original = api.create_order
    pending = PendingCreates()

    def create_order(symbol: str, type: str, side: str, amount: float,  # noqa: A002 - ccxt
                     price: float | None = None, params: dict[str, Any] | None = None) -> Any:
        params = dict(params or {})
        reused = pending.take(symbol, side, clock())
        client_id = params.setdefault("client_order_id", reused or new_client_order_id())
        if reused:
            log.warning("create %s %s reuses client_order_id %s: an earlier create had no "
                        "answer, the exchange returns that order if it accepted it",
                        side, symbol, client_id)
        since = sys.exception()
        for attempt, delay in enumerate((*RETRY_DELAYS_S, None)):
            try:
                order = original(symbol, type, side, amount, price, params)
            except ccxt.NetworkError as exc:
                pending.remember(symbol, side, client_id, clock())
                raise_interrupt(exc, since=since)  # a SIGTERM in the request is no retry
                if delay is None:
                    raise
                log.warning("create %s %s (client_order_id %s) failed with %s: retrying with "
                            "the same id (%d/%d)", side, symbol, client_id,
                            type_name(exc), attempt + 1, len(RETRY_DELAYS_S))
                sleep(delay)
                continue
            except ccxt.BaseError:
                pending.forget(symbol, side)
                raise
            pending.forget(symbol, side)
            return order
        raise AssertionError  # unreachable: the last attempt returns or raises

    api.create_order = create_order
    setattr(api, _GUARDED, True)


def type_name(exc: BaseException) -> str:
    return type(exc).__name__


def install(exchange: Any) -> bool:
    """Guard a live bot's ccxt instance (``exchange._api``); False when dry-run, disabled or
    already guarded. Installed on the bot's own exchange object (an instance attribute, as the
    markets guard and the price tape do) by ``ExposureCapMixin.ft_bot_start`` in live mode, with
    ``market_fill``: the part of ours that owns orders installs the order path, and freqtrade's
    class is untouched. A strategy without the mixin keeps freqtrade's own order path."""
    api = unguarded_live_api(exchange, DISABLE_ENV, _GUARDED)
    if api is None:
        return False
    guard(api)
    log.info("trader247 patch idempotent_create installed: live creates carry a "
             "client_order_id and an unanswered create is retried under the same id")
    return True

