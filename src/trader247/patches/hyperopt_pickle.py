"""``HyperOptimizer.hyperopt_pickle_magic``: parallel hyperopt (``-j`` > 1) of a strategy with
``ExposureCapMixin``.

Why a patch: freqtrade sends the strategy to its worker processes with cloudpickle and, so that a
strategy may inherit from a class in another file, registers the module of every base class for
pickling by value, walking ``__bases__`` until it meets a class named ``IStrategy``. A mixin's
chain never meets one: it ends at ``object``, so freqtrade registers ``builtins`` itself, after
which ``dict`` and every other builtin type are pickled by value and each epoch fails with
``PicklingError: Could not pickle object as excessively deep recursion required``. Stock
strategies (and ``-j 1``) are unaffected. No strategy callback runs between the registration and
the pickling.

The wrapper passes freqtrade's walk only the bases that are worth pickling by value: not the
classes of ``builtins`` and not ours (``trader247`` is installed wherever freqtrade runs, so the
workers import it by reference, like freqtrade itself). Installed by
``ExposureCapMixin.ft_bot_start`` in hyperopt (it runs before freqtrade's walk). On a release where
the method changed, one error names it and hyperopt runs as before (``-j 1`` works).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from trader247.patches import MARKER, POSITIONAL, Needs, installed, refuse, source_problems

logger = logging.getLogger(__name__)

PATCH = "hyperopt_pickle"
QUALNAME = "freqtrade.optimize.hyperopt.hyperopt_optimizer.HyperOptimizer.hyperopt_pickle_magic"
NEEDS = Needs(QUALNAME, {"bases": POSITIONAL}, exact=True)
CALLS = ("cloudpickle.register_pickle_by_value(mod)",
         "self.hyperopt_pickle_magic(modules.__bases__)")
KEEP_BY_REFERENCE = ("builtins", "trader247")
"""Modules (and their submodules) never registered for pickling by value."""


def by_value(cls: type) -> bool:
    module = str(getattr(cls, "__module__", "") or "")
    return not any(module == name or module.startswith(name + ".") for name in KEEP_BY_REFERENCE)


def _filtered(original: Any) -> Any:
    @functools.wraps(original)
    def hyperopt_pickle_magic(self: Any, bases: tuple[type, ...]) -> None:
        # freqtrade recurses through self.hyperopt_pickle_magic: every level is filtered.
        original(self, tuple(base for base in bases if by_value(base)))

    setattr(hyperopt_pickle_magic, MARKER, PATCH)
    return hyperopt_pickle_magic


def problems(optimizer_class: Any) -> list[str]:
    method = optimizer_class.hyperopt_pickle_magic
    return NEEDS.problems(method) + source_problems(QUALNAME, method, CALLS)


def install(optimizer_class: Any = None) -> bool:
    """Filter ``optimizer_class.hyperopt_pickle_magic`` (freqtrade's ``HyperOptimizer``); False
    if already done or freqtrade changed (one error)."""
    if optimizer_class is None:
        # Imported here: freqtrade's hyperopt module loads optional dependencies (optuna) that
        # only a hyperopt run has to have.
        from freqtrade.optimize.hyperopt.hyperopt_optimizer import HyperOptimizer

        optimizer_class = HyperOptimizer
    current = optimizer_class.hyperopt_pickle_magic
    if installed(current, PATCH):
        return False
    found = problems(optimizer_class)
    if found:
        logger.error("%s: parallel hyperopt (-j > 1) of a strategy with ExposureCapMixin may "
                     "fail to pickle; -j 1 works", refuse(PATCH, found))
        return False
    optimizer_class.hyperopt_pickle_magic = _filtered(current)
    logger.info("trader247 patch %s installed: the strategy's base classes are pickled for the "
                "hyperopt workers without builtins and trader247", PATCH)
    return True
