"""The ``protections`` list a strategy hands to freqtrade: ``ExposureCap`` plus ``policy.yaml``'s
list. It builds the list and holds no protection (``ExposureCap`` itself is
``user_data/protections/ExposureCap.py``, the models of the list's entries are
``trader247.core.config.protections``); ``trader247.protections``, its first name, still
imports with a ``DeprecationWarning``.

Freqtrade 2026.9 refuses a ``protections`` key in the config file and reads protections only
from the strategy's ``protections`` property. So that freqtrade's own protections
(``StoplossGuard``, ``MaxDrawdown``, ``CooldownPeriod``, ``LowProfitPairs``) are still settings,
``policy.yaml`` holds them as ``protections:`` in freqtrade's own format (validated at load,
every problem as ``file:line: protections[i].key: ...``) and both ``Trader247Strategy`` and the
README's mixin recipe return::

    @property
    def protections(self):
        return strategy_protections(self.config)

``ExposureCap`` always comes first and is never listed in the YAML: the cap is not optional.
Backtests apply protections only with ``--enable-protections`` (or ``"enable_protections":
true`` in the config), as for any freqtrade protection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trader247.adapters.settings import load_settings
from trader247.core.plugin_names import PROTECTION

EXPOSURE_CAP: dict[str, Any] = {"method": PROTECTION}


def strategy_protections(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``[{"method": "ExposureCap"}, *policy.yaml protections]`` for freqtrade's config."""
    policy = load_settings(config).policy
    return [dict(EXPOSURE_CAP), *(p.to_freqtrade() for p in policy.protections)]
