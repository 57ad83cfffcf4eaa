"""ExposureCap: a global lock while open positions exceed the at-risk cap.

Foundation stage: never locks. The At-risk cap issue ([C]) gives it its real body on top of
``trader247.core.exposure``.
"""

from __future__ import annotations

from datetime import datetime

from freqtrade.constants import LongShort
from freqtrade.plugins.protections import IProtection, ProtectionReturn


class ExposureCap(IProtection):
    has_global_stop = True
    has_local_stop = False

    def short_desc(self) -> str:
        return "ExposureCap - blocks entries while at-risk exposure is over the cap."

    def global_stop(
        self, date_now: datetime, side: LongShort, starting_balance: float
    ) -> ProtectionReturn | None:
        return None

    def stop_per_pair(
        self, pair: str, date_now: datetime, side: LongShort, starting_balance: float
    ) -> ProtectionReturn | None:
        return None
