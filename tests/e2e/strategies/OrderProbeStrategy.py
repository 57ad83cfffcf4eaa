"""A plain freqtrade strategy for order-lifecycle tests: no signals, no exits, no cap.

Live tests open and close positions through the REST API; every order they observe is one the
test asked for, and no plugin of ours decides anything. ``"order_probe": {"enter": [pairs]}`` in
the config makes it signal an entry on those pairs on every candle (a strategy that wants in).
"""

from __future__ import annotations

from freqtrade.strategy import IStrategy
from pandas import DataFrame


class OrderProbeStrategy(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1h"
    minimal_roi = {"0": 100.0}
    stoploss = -0.99
    startup_candle_count = 1

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        wanted = (self.config.get("order_probe") or {}).get("enter", [])
        dataframe["enter_long"] = 1 if metadata["pair"] in wanted else 0
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe
