"""The README's recipe applied to freqtrade's own SampleStrategy, for bots (dry-run, live).

Changes to the cap are tried with a strategy that is not ours too: its own signals, sizing
(``stake_amount: "unlimited"``) and exits, with the mixin first.
"""

from __future__ import annotations

from typing import Any

from freqtrade.templates.sample_strategy import SampleStrategy

from trader247.strategy import ExposureCapMixin


class CappedSampleStrategy(ExposureCapMixin, SampleStrategy):  # type: ignore[misc]
    position_adjustment_enable = True

    @property
    def protections(self) -> list[dict[str, Any]]:
        return [{"method": "ExposureCap"}]
