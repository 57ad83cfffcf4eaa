"""Parallel hyperopt of a mixin strategy needs no patch: ``ExposureCapMixin`` subclasses
``IStrategy``.

freqtrade registers the module of every base class of the strategy for pickling by value, walking
``__bases__`` until a class named ``IStrategy`` (``HyperOptimizer.hyperopt_pickle_magic``, run here
on a stand-in object so no hyperopt is set up). A plain mixin's chain ended at ``object``, so
freqtrade registered ``builtins`` and every ``-j 2`` epoch failed with "Could not pickle object as
excessively deep recursion required" (the patch ``hyperopt_pickle`` existed for that). The e2e run
is ``tests/e2e/test_hyperopt.py``.
"""

from __future__ import annotations

from typing import Any

import cloudpickle
import pytest
from freqtrade.optimize.hyperopt.hyperopt_optimizer import HyperOptimizer
from freqtrade.strategy import IStrategy

from trader247.strategy import ExposureCapMixin


class UsersBase(IStrategy):  # a user's strategy in another file (this module)
    def populate_indicators(self, dataframe: Any, metadata: dict[str, Any]) -> Any:
        return dataframe


class Capped(ExposureCapMixin, UsersBase):
    pass


class CappedDirectly(ExposureCapMixin, IStrategy):
    def populate_indicators(self, dataframe: Any, metadata: dict[str, Any]) -> Any:
        return dataframe


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    monkeypatch.setattr(cloudpickle, "register_pickle_by_value",
                        lambda module: names.append(module.__name__))
    return names


def freqtrades_walk(strategy_class: type) -> None:
    optimizer = type("Optimizer", (), {
        "hyperopt_pickle_magic": HyperOptimizer.hyperopt_pickle_magic})()
    optimizer.hyperopt_pickle_magic(strategy_class.__bases__)


@pytest.mark.parametrize(("strategy_class", "expected"), [
    (Capped, ["trader247.adapters.cap_mixin", __name__]),
    (CappedDirectly, ["trader247.adapters.cap_mixin"]),
])
def test_freqtrades_walk_stops_at_istrategy_and_never_registers_builtins(
    registered: list[str], strategy_class: type, expected: list[str]
) -> None:
    freqtrades_walk(strategy_class)
    assert registered == expected


def test_the_mixin_comes_first_in_the_mro() -> None:
    assert Capped.__mro__[:4] == (Capped, ExposureCapMixin, UsersBase, IStrategy)


def test_the_mixin_after_istrategy_is_refused_at_class_creation() -> None:
    with pytest.raises(TypeError, match="consistent method resolution"):
        type("Wrong", (IStrategy, ExposureCapMixin), {})


def test_the_mixin_alone_is_abstract_like_istrategy() -> None:
    with pytest.raises(TypeError, match="abstract"):
        ExposureCapMixin({})  # type: ignore[abstract]
