"""Typed, frozen models of ``config/policy.yaml`` and ``config/universe.yaml``.

Pure: no file I/O, no freqtrade or ccxt. ``trader247.configfiles`` reads the files, maps every
error to ``file:line: key.path: message`` and calls :func:`cross_check`. Key names are the
original bot's (fixes 1, 3, 4 and 8 of 2025-11-15).

One module per job; this package re-exports the public names, so callers import from
``trader247.core.config``:

- :mod:`.problems`: :class:`Problem` and how values and key paths are shown.
- :mod:`.fields`: strict field types, :class:`Bounds` (every range, declared once) and symbol
  normalisation.
- :mod:`.policy` and :mod:`.protections`: ``policy.yaml``.
- :mod:`.universe`: ``universe.yaml``.
- :mod:`.checks`: checks across fields and files.

These models hold the one set of defaults (the committed YAML files repeat them as
documentation, pinned by a test). The core gets values, never defaults: ``to_core()`` builds
its value objects (:class:`RiskConfig` -> ``CapPolicy``, :class:`UniverseConfig` ->
``UniverseRules``, :class:`Tier` -> ``TierRule``).
"""

from trader247.core.config.checks import (
    check_policy,
    check_symbols_on_exchange,
    check_universe,
    cross_check,
    universe_symbols,
)
from trader247.core.config.fields import (
    CURRENCY_PATTERN,
    SYMBOL_PATTERN,
    Bounds,
    normalize_symbol,
)
from trader247.core.config.policy import (
    LIVE_CAP_ACK_THRESHOLD_PCT,
    POSTGRESQL_SCHEMES,
    RENAMED_KEYS,
    FleetConfig,
    LiquidityConfig,
    MetricsConfig,
    PolicyConfig,
    RiskConfig,
    ShutdownConfig,
    SizingConfig,
    StaleDataConfig,
    StrategyConfig,
    TrimsConfig,
    is_postgresql_url,
)
from trader247.core.config.problems import PathElem, Problem, Severity, format_path, show_value
from trader247.core.config.protections import (
    PROTECTION_METHODS,
    PROTECTION_PARAMETERS,
    ProtectionConfig,
)
from trader247.core.config.universe import (
    ClustersConfig,
    ExclusionsConfig,
    Tier,
    TierConstraints,
    UniverseConfig,
)
from trader247.core.symbols import asset_of

__all__ = [
    "CURRENCY_PATTERN",
    "LIVE_CAP_ACK_THRESHOLD_PCT",
    "POSTGRESQL_SCHEMES",
    "PROTECTION_METHODS",
    "PROTECTION_PARAMETERS",
    "RENAMED_KEYS",
    "SYMBOL_PATTERN",
    "Bounds",
    "ClustersConfig",
    "ExclusionsConfig",
    "FleetConfig",
    "LiquidityConfig",
    "MetricsConfig",
    "PathElem",
    "PolicyConfig",
    "Problem",
    "ProtectionConfig",
    "RiskConfig",
    "Severity",
    "ShutdownConfig",
    "SizingConfig",
    "StaleDataConfig",
    "StrategyConfig",
    "Tier",
    "TierConstraints",
    "TrimsConfig",
    "UniverseConfig",
    "asset_of",
    "check_policy",
    "check_symbols_on_exchange",
    "check_universe",
    "cross_check",
    "format_path",
    "is_postgresql_url",
    "normalize_symbol",
    "show_value",
    "universe_symbols",
]
