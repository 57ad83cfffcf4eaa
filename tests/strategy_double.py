"""``IStrategy`` for unit tests of ``ExposureCapMixin``, which subclasses ``IStrategy``.

A test's stand-in base must itself be an ``IStrategy`` (else the MRO puts ``IStrategy`` before it
and its methods are never reached) and the strategy must be concrete. freqtrade's constructor is
skipped: it takes the config and builds informative caches, while these tests set ``config``,
``dp``, ``wallets``, ``timeframe`` and ``stoploss`` themselves. The hooks are ``IStrategy``'s
defaults (stake passes, entries confirmed, loop start does nothing).
"""

from __future__ import annotations

from typing import Any

from freqtrade.strategy import IStrategy


class StrategyDouble(IStrategy):  # type: ignore[misc]  # freqtrade is untyped
    def __init__(self) -> None:  # freqtrade's __init__(config) is not run; see the module
        pass

    def populate_indicators(self, dataframe: Any, metadata: dict[str, Any]) -> Any:
        return dataframe
