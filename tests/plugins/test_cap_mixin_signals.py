"""The mixin and a lost SIGTERM ([T] item 3): no loop and no entry after it; its shutdown is
never cut short by its own interrupt."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from freqtrade.enums import RunMode
from tests.plugins.test_cap_mixin import NOW, SizingStrategy, make, stake_kwargs

from trader247.interrupts import latch_signals


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    """Dry-run persists the cap state in freqtrade's database."""
    from freqtrade.persistence import Trade, init_db

    init_db("sqlite://")
    yield
    Trade.session.remove()


@pytest.fixture
def latched() -> Iterator[None]:
    """freqtrade's SIGTERM handler, latched as ``ft_bot_start`` does in dry-run and live."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def term_handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, term_handler)
    latch_signals()
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def dry_run_strategy() -> Any:
    import pandas as pd

    strategy = make(SizingStrategy, balance=1000.0, held=0.0, runmode=RunMode.DRY_RUN)
    strategy.dp.get_analyzed_dataframe = lambda *_a: (pd.DataFrame(), NOW)  # not analysed yet
    return strategy


class SignalledInFinalizer:
    def __del__(self) -> None:
        signal.raise_signal(signal.SIGTERM)  # Python discards the interrupt raised here


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("hook", ["bot_loop_start", "confirm_trade_entry"])
def test_after_a_lost_sigterm_no_loop_and_no_entry(latched: None, hook: str) -> None:
    strategy = dry_run_strategy()
    strategy.bot_loop_start(current_time=NOW)  # no signal yet: the loop runs
    assert strategy.confirm_trade_entry(**stake_kwargs(10.0)) is True
    lost = SignalledInFinalizer()
    del lost
    with pytest.raises(KeyboardInterrupt, match="SIGTERM received earlier"):
        if hook == "bot_loop_start":
            strategy.bot_loop_start(current_time=NOW)
        else:
            strategy.confirm_trade_entry(**stake_kwargs(10.0))


def test_a_failed_state_write_during_the_shutdown_is_logged_not_raised(
        caplog: pytest.LogCaptureFixture) -> None:
    """freqtrade runs ``ft_bot_cleanup`` in a ``finally`` while the SIGTERM's interrupt
    propagates; an error of the state write carries that interrupt and must not abort the
    shutdown (nor be mistaken for a second SIGTERM)."""
    caplog.set_level(logging.INFO)
    strategy = dry_run_strategy()
    strategy.bot_loop_start(current_time=NOW)
    adapter = strategy.cap_adapter

    class Unwritable:
        def persist(self, controller: Any) -> bool:
            raise RuntimeError("database gone")

    adapter.persistence = Unwritable()
    cleaned_up = []
    with pytest.raises(KeyboardInterrupt) as raised:
        try:
            raise KeyboardInterrupt("the shutdown's")
        finally:
            strategy.ft_bot_cleanup()
            cleaned_up.append(True)
    assert raised.value.args == ("the shutdown's",)
    assert cleaned_up == [True]
    assert "cap state not persisted on shutdown: database gone" in caplog.text
