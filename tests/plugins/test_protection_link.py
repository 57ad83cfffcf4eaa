"""ExposureCap finds its strategy's cap in its own entry; without the mixin it refuses to start."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from freqtrade.enums import RunMode
from freqtrade.exceptions import OperationalException
from tests.strategy_double import StrategyDouble

from trader247.adapters.protection_link import CONTROLLER_KEY
from trader247.core.exposure import CapState, Position, Snapshot
from trader247.strategy import ExposureCapMixin

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"stake_currency": "USD", "dry_run": True, "runmode": RunMode.BACKTEST,
          "timeframe": "1h", "strategy": "MyStrategy",
          "config_files": [str(REPO / "config" / "config.json")]}


def protection_module() -> ModuleType:
    path = REPO / "user_data" / "protections" / "ExposureCap.py"
    spec = importlib.util.spec_from_file_location("ExposureCap", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Base(StrategyDouble):
    """Stands in for IStrategy (``protections`` is a class attribute there)."""

    protections: list[Any] = []


class AsProperty(ExposureCapMixin, Base):
    @property
    def protections(self) -> list[dict[str, Any]]:
        return [{"method": "CooldownPeriod", "stop_duration_candles": 2},
                {"method": "ExposureCap"}]


class AsList(ExposureCapMixin, Base):
    protections = [{"method": "ExposureCap"}]


class DeclaredBelow(Base):
    protections = [{"method": "ExposureCap"}]


class MixinOnTop(ExposureCapMixin, DeclaredBelow):
    pass


@pytest.mark.parametrize("cls", [AsProperty, AsList, MixinOnTop])
def test_every_way_of_declaring_it_links_the_strategys_own_cap(cls: type) -> None:
    strategy = cls()
    strategy.config = dict(CONFIG)
    strategy.timeframe = "1h"
    entries = strategy.protections
    caps = [entry for entry in entries if entry["method"] == "ExposureCap"]
    assert len(caps) == 1 and caps[0][CONTROLLER_KEY] is strategy.cap
    others = [entry for entry in entries if entry["method"] != "ExposureCap"]
    assert all(CONTROLLER_KEY not in entry for entry in others)
    # The declared entries are copied, never changed: another strategy may share them.
    assert CONTROLLER_KEY not in DeclaredBelow.protections[0]


def test_the_protection_locks_while_its_strategys_cap_is_reducing() -> None:
    from datetime import UTC, datetime

    strategy = AsList()
    strategy.config = dict(CONFIG)
    strategy.timeframe = "1h"
    entry = strategy.protections[0]
    protection = protection_module().ExposureCap(CONFIG, entry)
    now = datetime(2025, 6, 1, tzinfo=UTC)
    assert protection.global_stop(now, "long", 1000.0) is None
    strategy.cap.evaluate(Snapshot(700.0, (Position("BTC/USD", 3.0, 100.0),)), 1.0, 0.0)
    assert strategy.cap.state is CapState.REDUCING
    lock = protection.global_stop(now, "long", 1000.0)
    assert lock is not None and lock.reason.startswith("EXPOSURE_OVER_CAP: at_risk=30.0%")


def test_declared_without_the_mixin_it_refuses_to_start_naming_the_class_and_the_fix() -> None:
    with pytest.raises(OperationalException) as error:
        protection_module().ExposureCap(CONFIG, {"method": "ExposureCap"})
    message = str(error.value)
    assert "strategy MyStrategy declares the ExposureCap protection but does not inherit " \
           "ExposureCapMixin" in message
    assert "class MyStrategy(ExposureCapMixin, <its base>)" in message
