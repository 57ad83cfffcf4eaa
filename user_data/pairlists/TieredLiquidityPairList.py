"""TieredLiquidityPairList: 24h USD-volume universe with tier floors and force-eligible pairs.

Foundation stage: a pass-through generator over the active markets of the stake currency.
The Universe issue ([B]) gives it its real body on top of ``trader247.core.universe``.
"""

from __future__ import annotations

import logging
from typing import Any

from freqtrade.exchange.exchange_types import Tickers
from freqtrade.plugins.pairlist.IPairList import IPairList, PairlistParameter, SupportsBacktesting

logger = logging.getLogger(__name__)


class TieredLiquidityPairList(IPairList):
    is_pairlist_generator = True
    supports_backtesting = SupportsBacktesting.NO_ACTION

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stake_currency: str = self._config["stake_currency"]

    @property
    def needstickers(self) -> bool:
        return True

    @staticmethod
    def description() -> str:
        return "24h USD-volume universe with tier floors and force-eligible core pairs."

    @staticmethod
    def available_parameters() -> dict[str, PairlistParameter]:
        return {**IPairList.refresh_period_parameter()}

    def short_desc(self) -> str:
        return f"{self.name} - active {self._stake_currency} markets."

    def gen_pairlist(self, tickers: Tickers) -> list[str]:
        markets = self._exchange.get_markets(
            quote_currencies=[self._stake_currency], tradable_only=True, active_only=True
        )
        pairs = sorted(markets)
        return self.filter_pairlist(pairs, tickers)

    def filter_pairlist(self, pairlist: list[str], tickers: Tickers) -> list[str]:
        return pairlist
