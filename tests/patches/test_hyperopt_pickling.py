"""``hyperopt_pickling``: trader247 modules leave cloudpickle's by-value registry (issue 13)."""

from __future__ import annotations

import inspect
import logging
import sys
from typing import Any

import cloudpickle
import pytest
from freqtrade.optimize.hyperopt.hyperopt_optimizer import HyperOptimizer

from trader247.patches import hyperopt_pickling


def test_freqtrade_signature_and_body_are_what_the_patch_relies_on() -> None:
    original = inspect.unwrap(HyperOptimizer.hyperopt_pickle_magic)
    assert hyperopt_pickling.NEEDS.problems(original) == []
    assert hyperopt_pickling.source_problems(
        hyperopt_pickling.NEEDS.qualname, original, hyperopt_pickling.FRAGMENTS) == []


def optimizer_class() -> type:
    """A stand-in with freqtrade's real method (same signature and body)."""
    return type("Optimizer", (), {"hyperopt_pickle_magic": HyperOptimizer.hyperopt_pickle_magic})


def test_installed_magic_keeps_user_modules_by_value_and_ours_by_reference() -> None:
    import trader247.adapters.cap_mixin as cap_mixin
    from trader247.strategy import ExposureCapMixin

    user_module = type(sys)("user_strategy_base")
    sys.modules["user_strategy_base"] = user_module
    user_base = type("UserBase", (), {"__module__": "user_strategy_base"})
    cls = optimizer_class()
    try:
        assert hyperopt_pickling.install(cls) is True
        assert hyperopt_pickling.install(cls) is False  # idempotent
        cls().hyperopt_pickle_magic((ExposureCapMixin, user_base))
        registry = cloudpickle.list_registry_pickle_by_value()
        assert "user_strategy_base" in registry
        assert not any(hyperopt_pickling.ours(name) for name in registry)
        # What failed before: the mixin's module by value reaches unpicklable process state.
        assert cloudpickle.loads(cloudpickle.dumps(ExposureCapMixin)) is ExposureCapMixin
        assert cap_mixin.__name__ not in registry
    finally:
        if "user_strategy_base" in cloudpickle.list_registry_pickle_by_value():
            cloudpickle.unregister_pickle_by_value(user_module)
        del sys.modules["user_strategy_base"]


def test_unpatched_magic_registers_our_module_by_value() -> None:
    # The failure the patch exists for: freqtrade's method alone puts cap_mixin by value.
    from trader247.strategy import ExposureCapMixin

    optimizer_class()().hyperopt_pickle_magic((ExposureCapMixin,))
    try:
        assert "trader247.adapters.cap_mixin" in cloudpickle.list_registry_pickle_by_value()
        with pytest.raises(Exception, match="pickle"):
            cloudpickle.dumps(ExposureCapMixin)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules["trader247.adapters.cap_mixin"])


def test_changed_freqtrade_method_is_left_alone_with_one_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def hyperopt_pickle_magic(self: Any, bases: Any, extra: int = 0) -> None:
        return None

    cls = type("Optimizer", (), {"hyperopt_pickle_magic": hyperopt_pickle_magic})
    with caplog.at_level(logging.ERROR):
        assert hyperopt_pickling.install(cls) is False
    assert cls.hyperopt_pickle_magic is hyperopt_pickle_magic
    assert "hyperopt_pickling not installed" in caplog.text
