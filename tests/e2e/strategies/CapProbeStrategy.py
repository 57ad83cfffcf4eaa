"""A strategy with the cap and nothing else: no signals, no exits of its own.

The cap scenarios open positions through the REST API and move prices through the replay
exchange; any exit they observe must come from the cap.
"""

from __future__ import annotations

from typing import Any

from freqtrade.strategy import IStrategy
from pandas import DataFrame

from trader247.strategy import ExposureCapMixin


class CapProbeStrategy(ExposureCapMixin, IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1h"
    minimal_roi = {"0": 100.0}
    stoploss = -0.99
    startup_candle_count = 1

    @property
    def protections(self) -> list[dict[str, Any]]:
        return [{"method": "ExposureCap"}]

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = 0
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe
