"""Which candles Trader247Strategy can read, and the pairs its data come from.

Backtests, hyperopt and plots read candles from disk: a pair without its file would give a
silent zero-trade run, so the strategy asks here at start. Live and dry-run fetch candles from
the exchange: everything listed is available. The choice of pairs is
:func:`trader247.core.strategy_data.source_pairs`; this module only looks at freqtrade's config
and data handler.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from freqtrade.data.history import get_datahandler
from freqtrade.enums import RunMode, TradingMode
from freqtrade.exceptions import OperationalException
from freqtrade.misc import pair_to_filename

from trader247.core.strategy_data import Frames, missing_candles

__all__ = ["OFFLINE_MODES", "CandleFiles"]

logger = logging.getLogger(__name__)

OFFLINE_MODES = (RunMode.BACKTEST, RunMode.HYPEROPT, RunMode.PLOT, RunMode.OTHER)
_EXTENSIONS = {"jsongz": "json.gz"}  # freqtrade's data formats whose extension differs


class CandleFiles:
    """Candle files of freqtrade's ``datadir`` (offline run modes) for a strategy's ``frames``."""

    def __init__(self, config: dict[str, Any], frames: Frames) -> None:
        self._config = config
        self._frames = frames
        self.offline = config.get("runmode") in OFFLINE_MODES and "datadir" in config
        self._on_disk: set[tuple[str, str]] | None = None

    def _listing(self) -> set[tuple[str, str]]:
        if self._on_disk is None:
            datadir = self._config["datadir"]
            handler = get_datahandler(datadir, self._config.get("dataformat_ohlcv") or "feather")
            mode = TradingMode(self._config.get("trading_mode") or "spot")
            self._on_disk = {(p, tf) for p, tf, _ in
                             handler.ohlcv_get_available_data(datadir, mode)}
        return self._on_disk

    def available(self, pair: str, timeframe: str) -> bool:
        """``pair``'s ``timeframe`` candles are on disk, or can be built from base candles."""
        if not self.offline or (pair, timeframe) in self._listing():
            return True
        base = self._frames.base
        if timeframe != base and (pair, base) in self._listing():
            logger.info("Trader247Strategy: no %s %s candles on disk: built from %s candles "
                        "(closed %s candles only)", pair, timeframe, base, timeframe)
            return True
        return False

    def require(self, pair: str, timeframe: str) -> None:
        """One OperationalException naming the file and the download command when ``pair``'s
        candles are not :meth:`available`."""
        if self.available(pair, timeframe):
            return
        fmt = self._config.get("dataformat_ohlcv") or "feather"
        file = Path(self._config["datadir"]) / (
            f"{pair_to_filename(pair)}-{timeframe}.{_EXTENSIONS.get(fmt, fmt)}")
        raise OperationalException(missing_candles(pair, self._frames, file,
                                                   self._config["exchange"]["name"]))
