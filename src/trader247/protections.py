"""Deprecated name of :mod:`trader247.protection_list` (the module builds a strategy's protection
list; it holds no protection). Strategies written against the README of before keep working::

    from trader247.protections import strategy_protections  # DeprecationWarning

New code imports ``from trader247.protection_list import strategy_protections``.
"""

from __future__ import annotations

import warnings

from trader247.protection_list import EXPOSURE_CAP, strategy_protections

__all__ = ["EXPOSURE_CAP", "strategy_protections"]

warnings.warn(
    "trader247.protections is deprecated: import strategy_protections from "
    "trader247.protection_list",
    DeprecationWarning,
    stacklevel=2,
)
