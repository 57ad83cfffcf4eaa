"""``HyperOptimizer.hyperopt_pickle_magic``: our installed package is pickled by reference.

Why a patch: with ``-j`` above 1, freqtrade's hyperopt sends its optimizer (strategy included)
to worker processes with cloudpickle, and ``hyperopt_pickle_magic`` first registers the module
of every base class of the strategy "by value", meant for a strategy file that imports a
sibling strategy file. For ``ExposureCapMixin`` that registers ``trader247.adapters.cap_mixin``:
its classes and functions are then copied with all the globals they reach, including process
state that cannot be pickled (``observability``'s per-thread plugin clock), and hyperopt dies
with "Could not pickle object as excessively deep recursion required". ``trader247`` is an
installed package that every worker imports by name, so by reference is both correct and
cheaper. Our objects cannot opt out themselves: cloudpickle decides by-value per module, and
the functions that reach the unpicklable state are module-level decorated hooks.

The wrapper runs freqtrade's method, then unregisters every ``trader247`` module it registered;
modules of other files (the user's own strategy bases) stay by value, as freqtrade wants.
Installed by ``ExposureCapMixin.ft_bot_start`` in hyperopt only. A freqtrade whose method
changed logs one error and stays out (hyperopt with ``-j 1`` still works).
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

from trader247.patches import MARKER, POSITIONAL, Needs, installed, source_problems

logger = logging.getLogger(__name__)

PATCH = "hyperopt_pickling"
PACKAGE = "trader247"
NEEDS = Needs(
    "freqtrade.optimize.hyperopt.hyperopt_optimizer.HyperOptimizer.hyperopt_pickle_magic",
    {"bases": POSITIONAL}, exact=True)
FRAGMENTS = ("cloudpickle.register_pickle_by_value(mod)",)


def ours(module_name: str) -> bool:
    return module_name == PACKAGE or module_name.startswith(PACKAGE + ".")


def _by_reference(original: Any) -> Any:
    @functools.wraps(original)
    def hyperopt_pickle_magic(self: Any, bases: tuple[type, ...]) -> None:
        import cloudpickle

        original(self, bases)
        for name in list(cloudpickle.list_registry_pickle_by_value()):
            if ours(name) and name in sys.modules:
                cloudpickle.unregister_pickle_by_value(sys.modules[name])

    setattr(hyperopt_pickle_magic, MARKER, PATCH)
    return hyperopt_pickle_magic


def install(optimizer_class: Any = None) -> bool:
    """Wrap ``optimizer_class.hyperopt_pickle_magic`` (freqtrade's ``HyperOptimizer``)."""
    if optimizer_class is None:
        from freqtrade.optimize.hyperopt.hyperopt_optimizer import HyperOptimizer

        optimizer_class = HyperOptimizer
    current = optimizer_class.hyperopt_pickle_magic
    if installed(current, PATCH):
        return False
    problems = NEEDS.problems(current) + source_problems(NEEDS.qualname, current, FRAGMENTS)
    if problems:
        logger.error("trader247 patch %s not installed (hyperopt -j 1 still works): %s",
                     PATCH, "; ".join(problems))
        return False
    optimizer_class.hyperopt_pickle_magic = _by_reference(current)
    logger.info("trader247 patch %s installed: trader247 modules are pickled by reference "
                "for hyperopt workers", PATCH)
    return True
