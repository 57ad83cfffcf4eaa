"""ExposureCap: a global lock while open positions exceed the at-risk cap.

Declare it in the strategy's ``protections`` property (freqtrade 2026.9 refuses a ``protections``
key in the config file)::

    @property
    def protections(self):
        return [{"method": "ExposureCap"}]

The decision is the strategy's cap controller's (``ExposureCapMixin``): one exposure definition
for the entry gate, the trimmer, this lock and the metrics. Freqtrade evaluates protections only
after a trade closes, so the mixin also sets and lifts the same lock from ``bot_loop_start``
within one iteration of a state change; this class makes the lock show up through freqtrade's own
protection machinery (start-up message, ``/locks``) as well.

The mixin hands its controller to this protection inside the ``protections`` entry
(``trader247.adapters.protection_link``). Declared by a strategy without the mixin, the
protection refuses to start: nothing would measure exposure, and a cap that silently never locks
is worse than none.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freqtrade.constants import Config, LongShort
from freqtrade.exceptions import OperationalException
from freqtrade.plugins.protections import IProtection, ProtectionReturn

from trader247.adapters.protection_link import linked_controller, missing_mixin_message
from trader247.core.exposure import CapState, over_cap_reason


class ExposureCap(IProtection):  # type: ignore[misc]  # freqtrade is untyped
    has_global_stop = True
    has_local_stop = False

    def __init__(self, config: Config, protection_config: dict[str, Any]) -> None:
        super().__init__(config, protection_config)
        controller = linked_controller(protection_config)
        if controller is None:
            raise OperationalException(missing_mixin_message(config.get("strategy")))
        self._controller = controller

    def short_desc(self) -> str:
        return "ExposureCap - no entries while at-risk exposure is over the cap (trims reduce it)."

    def global_stop(
        self, date_now: datetime, side: LongShort, starting_balance: float
    ) -> ProtectionReturn | None:
        controller = self._controller
        if controller.state is not CapState.REDUCING:
            return None
        exposure = controller.last_exposure
        if exposure is None:
            return None
        # Re-evaluated after every closed trade; the strategy lifts the lock once ACTIVE again.
        return ProtectionReturn(lock=True, until=date_now + timedelta(hours=24),
                                reason=over_cap_reason(exposure))

    def stop_per_pair(
        self, pair: str, date_now: datetime, side: LongShort, starting_balance: float
    ) -> ProtectionReturn | None:
        return None
