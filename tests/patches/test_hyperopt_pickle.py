"""``HyperOptimizer.hyperopt_pickle_magic`` filter: parallel hyperopt of a mixin strategy.

Freqtrade's own method runs on a stand-in class; ``cloudpickle.register_pickle_by_value`` records
what freqtrade would register. Without the filter a mixin's chain ends at ``object`` and
freqtrade registers ``builtins`` (found with ``freqtrade hyperopt -j 2``: every epoch failed with
"Could not pickle object as excessively deep recursion required"; ``-j 1`` and stock strategies
were fine).
"""

from __future__ import annotations

import logging
from typing import Any

import cloudpickle
import pytest
from freqtrade.optimize.hyperopt.hyperopt_optimizer import HyperOptimizer
from freqtrade.strategy import IStrategy

from trader247.patches import hyperopt_pickle
from trader247.strategy import ExposureCapMixin


class UsersBase(IStrategy):  # a user's strategy in another file (this module)
    pass


class Capped(ExposureCapMixin, UsersBase):
    pass


def optimizer_class() -> type:
    return type("Optimizer", (), {"hyperopt_pickle_magic": HyperOptimizer.hyperopt_pickle_magic})


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    monkeypatch.setattr(cloudpickle, "register_pickle_by_value",
                        lambda module: names.append(module.__name__))
    return names


def test_without_the_filter_freqtrade_registers_builtins_for_a_mixin(
    registered: list[str],
) -> None:
    optimizer_class()().hyperopt_pickle_magic(Capped.__bases__)
    assert "builtins" in registered and "trader247.adapters.cap_mixin" in registered


def test_the_filter_registers_only_the_users_modules(registered: list[str]) -> None:
    cls = optimizer_class()
    assert hyperopt_pickle.install(cls) is True
    assert hyperopt_pickle.install(cls) is False  # idempotent
    cls().hyperopt_pickle_magic(Capped.__bases__)
    assert registered == [__name__]


@pytest.mark.parametrize(("module", "by_value"), [
    ("builtins", False), ("trader247.adapters.cap_mixin", False), ("trader247", False),
    ("trader247x.strategies", True), ("user_strategies.base", True)])
def test_which_modules_are_pickled_by_value(module: str, by_value: bool) -> None:
    cls = type("C", (), {"__module__": module})
    assert hyperopt_pickle.by_value(cls) is by_value


def test_a_changed_method_is_one_error_and_no_patch(caplog: pytest.LogCaptureFixture) -> None:
    class Optimizer:
        def hyperopt_pickle_magic(self, bases: Any, depth: int = 0) -> None:
            return None

    with caplog.at_level(logging.ERROR):
        assert hyperopt_pickle.install(Optimizer) is False
    assert "HyperOptimizer.hyperopt_pickle_magic" in caplog.text and "-j 1 works" in caplog.text
    assert getattr(Optimizer.hyperopt_pickle_magic, "__trader247_patch__", None) is None


def test_freqtrades_method_is_what_the_filter_relies_on() -> None:
    assert hyperopt_pickle.problems(HyperOptimizer) == []
