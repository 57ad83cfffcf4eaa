"""The names of our freqtrade plugins: the one place code spells them.

Freqtrade finds a plugin by its class name (``"method": "TieredLiquidityPairList"`` in
``pairlists``, ``{"method": "ExposureCap"}`` in a strategy's ``protections``, ``--strategy
Trader247Strategy``), so each class under ``user_data/`` carries exactly this name
(``tests/plugins/test_plugin_names.py`` holds them together). Prose (docstrings, help text, the
README) may still name them; code that compares or writes a name imports it from here.

Imports nothing: the start-up hook reads it when freqtrade is imported.
"""

from typing import Final

PAIRLIST: Final = "TieredLiquidityPairList"
"""The tiered USD-volume pairlist (``user_data/pairlists/TieredLiquidityPairList.py``)."""

PROTECTION: Final = "ExposureCap"
"""The account-level at-risk cap protection (``user_data/protections/ExposureCap.py``)."""

STRATEGY: Final = "Trader247Strategy"
"""The strategy (``user_data/strategies/Trader247Strategy.py``)."""

PLUGIN_FILES: Final = {
    PAIRLIST: f"user_data/pairlists/{PAIRLIST}.py",
    PROTECTION: f"user_data/protections/{PROTECTION}.py",
    STRATEGY: f"user_data/strategies/{STRATEGY}.py",
}
"""Each plugin's file, relative to the checkout: freqtrade's resolvers load ``<Name>.py``."""
