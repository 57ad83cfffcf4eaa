"""A user strategy that keeps getting stopped out: it enters every pair on every candle with a
0.5 % stop, so freqtrade's StoplossGuard has something to lock. It follows the README's mixin
recipe to the letter, protections included."""

from __future__ import annotations

from typing import Any

from freqtrade.strategy import IStrategy
from pandas import DataFrame

from trader247.protection_list import strategy_protections
from trader247.strategy import ExposureCapMixin


class StopOutStrategy(ExposureCapMixin, IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1h"
    position_adjustment_enable = True  # trims are partial exits
    minimal_roi = {"0": 100.0}
    stoploss = -0.005
    startup_candle_count = 1

    @property
    def protections(self) -> list[dict[str, Any]]:
        return strategy_protections(self.config)

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe
