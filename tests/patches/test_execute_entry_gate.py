"""``FreqtradeBot.execute_entry`` gate: a position increase passes the at-risk cap first ([R] 4).

A stand-in bot class carries freqtrade's real ``execute_entry`` signature (``functools.wraps``)
and records what freqtrade's own method would have been called with.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import pytest
from freqtrade.freqtradebot import FreqtradeBot

from trader247.patches import FreqtradeChanged, execute_entry_gate


def bot_class() -> tuple[type, list[tuple[str, float, dict[str, Any]]]]:
    calls: list[tuple[str, float, dict[str, Any]]] = []

    @functools.wraps(FreqtradeBot.execute_entry)
    def execute_entry(self: Any, pair: str, stake_amount: float, *args: Any,
                      **kwargs: Any) -> bool:
        calls.append((pair, stake_amount, kwargs))
        return True

    return type("Bot", (), {"execute_entry": execute_entry}), calls


def bot(cls: type, gate: Any) -> Any:
    instance = cls()
    strategy = types.SimpleNamespace()
    if gate is not None:
        strategy._cap_gate_position_increase = gate
    instance.strategy = strategy
    return instance


@pytest.mark.parametrize(("mode", "has_trade", "allowed", "result", "stake_passed"), [
    ("pos_adjust", True, 0.0, False, None),        # REDUCING: refused, freqtrade not called
    ("pos_adjust", True, 50.0, True, 50.0),        # clamped to the headroom: the clamp is used
    ("pos_adjust", True, 500.0, True, 500.0),      # under the cap: unchanged
    ("initial", False, 0.0, True, 500.0),          # a new trade: custom_stake_amount's job
    ("replace", True, 0.0, True, 500.0),           # replacing an unfilled entry: not an increase
])
def test_position_increase_gets_the_stake_the_cap_allows(
    mode: str, has_trade: bool, allowed: float, result: bool, stake_passed: float | None
) -> None:
    cls, calls = bot_class()
    assert execute_entry_gate.install(cls)
    asked: list[tuple[str, float, str | None]] = []

    def gate(pair: str, stake: float, enter_tag: str | None) -> float:
        asked.append((pair, stake, enter_tag))
        return allowed

    trade = object() if has_trade else None
    assert cls.execute_entry(bot(cls, gate), "BTC/USD", 500.0, 101.5, trade=trade,
                             mode=mode, enter_tag="force_entry") is result
    # the tag tells an operator's /forceenter from a strategy's DCA (the operator's message)
    assert asked == ([("BTC/USD", 500.0, "force_entry")] if mode == "pos_adjust" else [])
    if stake_passed is None:
        assert calls == []
    else:
        assert calls == [("BTC/USD", stake_passed,
                          {"trade": trade, "mode": mode, "enter_tag": "force_entry"})]


def test_a_strategy_without_the_mixin_is_untouched() -> None:
    cls, calls = bot_class()
    execute_entry_gate.install(cls)
    assert cls.execute_entry(bot(cls, None), "BTC/USD", 20.0, trade=object(), mode="pos_adjust")
    assert calls == [("BTC/USD", 20.0, {"trade": calls[0][2]["trade"], "mode": "pos_adjust"})]


def test_install_is_idempotent_and_keeps_freqtrades_signature() -> None:
    import inspect

    cls, _ = bot_class()
    assert execute_entry_gate.install(cls) is True
    first = cls.execute_entry
    assert execute_entry_gate.install(cls) is False
    assert cls.execute_entry is first
    assert inspect.signature(first) == inspect.signature(FreqtradeBot.execute_entry)


def test_a_changed_execute_entry_refuses_to_start_naming_the_function() -> None:
    class Bot:
        def execute_entry(self, pair: str, stake_amount: float, *, trade: Any = None) -> bool:
            return True  # "mode" is gone: the gate could not tell an increase from a new trade

    with pytest.raises(FreqtradeChanged, match=r"execute_entry_gate: freqtrade .* changed .*"
                       r"freqtrade\.freqtradebot\.FreqtradeBot\.execute_entry\(.*\) lacks "
                       r"mode \(keyword-only\)"):
        execute_entry_gate.install(Bot)
    assert getattr(Bot.execute_entry, "__trader247_patch__", None) is None


def test_installs_on_freqtrades_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FreqtradeBot, "execute_entry", FreqtradeBot.execute_entry)
    assert execute_entry_gate.install() in (True, False)
    assert FreqtradeBot.execute_entry.__trader247_patch__ == "execute_entry_gate"


def test_install_tells_the_operator_once(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.INFO, "trader247.patches.execute_entry_gate")
    cls, _ = bot_class()
    assert execute_entry_gate.install(cls) and not execute_entry_gate.install(cls)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "trader247 patch execute_entry_gate installed: position increases pass the "
                 "at-risk cap")]


@pytest.mark.parametrize("mode", ["pos_adjust", "initial"])
def test_freqtrades_method_gets_the_same_bot_and_every_argument(mode: str) -> None:
    """The gate changes the stake only: freqtrade's own method runs on the same bot with the
    positional price and every keyword it was given."""
    seen: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []

    @functools.wraps(FreqtradeBot.execute_entry)
    def execute_entry(self: Any, *args: Any, **kwargs: Any) -> str:
        seen.append((self, args, kwargs))
        return "placed"

    cls = type("Bot", (), {"execute_entry": execute_entry})
    assert execute_entry_gate.install(cls)
    instance = bot(cls, lambda pair, stake, tag: stake / 2)
    trade = object()
    assert instance.execute_entry("ETH/USD", 80.0, 2000.0, trade=trade, mode=mode,
                                  ordertype="limit") == "placed"
    assert seen == [(instance, ("ETH/USD", 40.0 if mode == "pos_adjust" else 80.0, 2000.0),
                     {"trade": trade, "mode": mode, "ordertype": "limit"})]
