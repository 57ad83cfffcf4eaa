"""Hatchling build hook: install the start-up ``.pth`` file into site-packages.

The ``.pth`` file must sit at the top of site-packages, which the wheel's normal package mapping
cannot express; hatchling only honours ``force_include_editable`` from a build hook, so both the
regular and the editable wheel are handled here. The plugin files under ``user_data/`` are also
shipped inside the package so that a user whose user_data directory lacks ``pairlists/`` or
``protections/`` (``freqtrade create-userdir`` does not create them) still gets our plugins.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PTH_SOURCE = "src/trader247_startup.pth"
PTH_TARGET = "trader247_startup.pth"
PLUGIN_FILES = {
    "user_data/pairlists/TieredLiquidityPairList.py": "trader247/_plugins/pairlists/TieredLiquidityPairList.py",
    "user_data/protections/ExposureCap.py": "trader247/_plugins/protections/ExposureCap.py",
    "user_data/strategies/Trader247Strategy.py": "trader247/_plugins/strategies/Trader247Strategy.py",
}


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            # Editable installs read the plugins straight from the checkout's user_data/.
            build_data["force_include_editable"] = {PTH_SOURCE: PTH_TARGET}
        else:
            build_data["force_include"] = {PTH_SOURCE: PTH_TARGET, **PLUGIN_FILES}
