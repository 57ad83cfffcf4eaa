"""``Exchange._load_async_markets``: a markets reload that parses to no markets is a failure.

Why a patch: ccxt's coinbase class turns a truncated JSON answer to the markets request into
``{}`` instead of raising; freqtrade then copies the empty dict over its markets
(``reload_markets``: ``self._markets = self._api_async.markets``) and the next whitelist refresh
raises "Markets were not loaded", which stops trading. Freqtrade has no hook between loading and
copying. The wrapper turns "reloaded, got nothing, had markets" into freqtrade's own
``TemporaryError`` after putting the last markets back on the async ccxt instance;
``reload_markets`` catches it, logs "Could not load markets." and keeps its markets.

Only the bot's own exchange object is wrapped (an instance attribute, as the price tape does:
freqtrade's class and other exchange objects are untouched), by ``TieredLiquidityPairList`` in
dry-run and live (backtesting never reloads markets). On a release where the reload no longer
works this way the guard is not installed: one error names the function.
"""

from __future__ import annotations

import logging
from typing import Any

from trader247.patches import MARKER, POSITIONAL, Needs, installed, refuse, source_problems

logger = logging.getLogger(__name__)

PATCH = "markets_guard"
NEEDS = Needs("freqtrade.exchange.exchange.Exchange._load_async_markets",
              {"reload": POSITIONAL}, exact=True)
RELOAD = "freqtrade.exchange.exchange.Exchange.reload_markets"
RELOAD_CALLS = (
    "self._load_async_markets",  # an instance attribute is found first
    "(reload=True)",
    "self._markets = self._api_async.markets",  # copied only after the load returned
    "self._api.set_markets_from_exchange(self._api_async)",  # the sync copy is the last good
    "TemporaryError",  # ... and a TemporaryError is caught and logged, markets kept
)
"""What ``reload_markets`` must contain for the guard to mean what it says."""
ATTRIBUTES = ("_markets", "_api", "_api_async")


def problems(exchange_class: Any) -> list[str]:
    return (NEEDS.problems(exchange_class._load_async_markets)
            + source_problems(RELOAD, exchange_class.reload_markets, RELOAD_CALLS))


def _guarded(exchange: Any, original: Any) -> Any:
    def _load_async_markets(reload: bool = False) -> None:
        original(reload=reload)
        if reload and exchange._markets and not exchange._api_async.markets:
            # The sync instance still holds the last markets: freqtrade copies them over only
            # after a reload succeeds.
            exchange._api_async.set_markets_from_exchange(exchange._api)
            from freqtrade.exceptions import TemporaryError

            raise TemporaryError(f"the exchange answered the markets reload with no markets: "
                                 f"keeping the {len(exchange._markets)} loaded ones")

    setattr(_load_async_markets, MARKER, PATCH)
    return _load_async_markets


def install(exchange: Any) -> bool:
    """Guard this exchange object's markets reloads; False if not (or already) installed."""
    from freqtrade.exchange.exchange import Exchange

    if not isinstance(exchange, Exchange):  # a test double: nothing of freqtrade's to guard
        return False
    current = exchange._load_async_markets
    if installed(current, PATCH):
        return False
    missing = [name for name in ATTRIBUTES if not hasattr(exchange, name)]
    found = problems(type(exchange)) + (
        [f"freqtrade's Exchange object has no {', '.join(missing)}"] if missing else [])
    if found:
        logger.error("%s: an empty markets reload will not be caught", refuse(PATCH, found))
        return False
    exchange._load_async_markets = _guarded(exchange, current)
    logger.info("trader247 patch %s installed: an empty markets reload keeps the markets", PATCH)
    return True
