"""Which parameters hyperopt (and so ``trader247 walk-forward``) searches in Trader247Strategy.

Issue [S], third round (README "Out-of-sample results"): the triggers switch is no longer
searched, so a per-window hyperopt cannot switch on trades that leave on a take-profit in the
middle of a trend. The set is pinned whole: a parameter added to or removed from the search
changes the walk-forward's results and must change this test and the README.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from freqtrade.strategy.parameters import BaseParameter

STRATEGY_FILE = Path(__file__).parents[2] / "user_data" / "strategies" / "Trader247Strategy.py"


def _strategy_class() -> type:
    spec = importlib.util.spec_from_file_location("trader247_strategy_space", STRATEGY_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Trader247Strategy  # type: ignore[no-any-return]


def test_hyperopt_searches_the_trend_filter_and_not_the_triggers() -> None:
    cls = _strategy_class()
    params = {name: value for name, value in vars(cls).items()
              if isinstance(value, BaseParameter)}
    searched = {name for name, value in params.items() if value.optimize}
    assert searched == {"buy_trend_ma_hours", "buy_trend_band_pct",
                        "buy_trend_min_momentum_pct"}
    # Still a parameter: a parameter file may switch the triggers on.
    assert params["buy_triggers_required"].value is False
