"""``ExposureCapMixin``: every freqtrade hook a strategy may define itself still goes through
the cap, the strategy's own answer combined with the cap's as its docstring says; outside the
run modes the cap applies to, every hook is the strategy's alone; start-up and shutdown.

Strategy classes are made inside the tests (``own``): the mixin wraps a strategy's hooks when
its class is created, and a class made at import time would be wrapped once for the whole run.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from freqtrade.enums import RunMode
from freqtrade.persistence import PairLocks, Trade
from tests.plugins.cap_fakes import with_parts
from tests.strategy_double import StrategyDouble

from trader247.adapters import cap_mixin
from trader247.adapters.observability import RUNTIME_KEY
from trader247.adapters.protection_link import CONTROLLER_KEY
from trader247.adapters.settings import Trader247ConfigError
from trader247.adapters.state_store import StateStore
from trader247.cli.processes import free_port
from trader247.core.exposure import CapState
from trader247.strategy import ExposureCapMixin

from .test_cap_adapter_contract import (  # noqa: F401 - database: the same autouse fixture
    NOW,
    backtest,
    database,
    dca_kwargs,
    strategy,
)
from .test_cap_mixin import REPO
from .test_cap_orm import OPENED, buy, order, trade


def own(**hooks: Any) -> type:
    """A strategy class defining ``hooks`` itself (made now: see the module doc)."""
    return type("Own", (ExposureCapMixin, StrategyDouble), dict(hooks))


def recorder(answer: Any) -> Any:
    """A strategy hook answering ``answer`` and recording how it was called."""

    def hook(self: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls = [*getattr(self, "calls", []), (args, kwargs)]
        return answer

    return hook


def stake_kwargs(pair: str = "ETH/USD", **changes: Any) -> dict[str, Any]:
    return {"pair": pair, "current_time": NOW, "current_rate": 1.0, "proposed_stake": 50.0,
            "min_stake": 1.0, "max_stake": 10_000.0, "leverage": 1.0, "entry_tag": None,
            "side": "long", **changes}


def cooling(bot: Any, pair: str) -> Any:
    """``pair`` was trimmed: in cooldown for one more cycle."""
    bot.cap.trim_state = replace(bot.cap.trim_state, cooldowns={pair: bot.cap.cycle + 1})
    return bot


# ------------------------------------------------------------------ a strategy's own hooks
@pytest.mark.parametrize(("answer", "pair", "changes", "stake"), [
    (500.0, "ETH/USD", {}, 130.0),                     # its sizing clamped to the headroom
    (60.0, "ETH/USD", {}, 60.0),
    (None, "ETH/USD", {}, 0.0),                        # no sizing: no entry
    (60.0, "ADA/USD", {}, 0.0),                        # the pair is cooling down
    (500.0, "ETH/USD", {"max_stake": 100.0}, 100.0),   # freqtrade's maximum kept
    (60.0, "ETH/USD", {"min_stake": 130.01}, 0.0),     # the headroom under the exchange minimum
])
def test_a_strategys_own_sizing_is_clamped(answer: Any, pair: str, changes: dict[str, Any],
                                           stake: float) -> None:
    bot = cooling(backtest(own(custom_stake_amount=recorder(answer)), 900.0, 100.0), "ADA/USD")
    kwargs = stake_kwargs(pair, **changes)
    assert bot.custom_stake_amount(**kwargs) == pytest.approx(stake)
    assert bot.calls == [((), kwargs)]  # the strategy's hook got freqtrade's arguments


@pytest.mark.parametrize(("name", "answer", "kwargs"), [
    ("custom_stake_amount", 50.0, stake_kwargs()),
    ("confirm_trade_entry", True, {"pair": "ETH/USD", "current_time": NOW}),
    ("bot_loop_start", None, {"current_time": NOW}),
    ("check_entry_timeout", False, {"pair": "ETH/USD", "current_time": NOW}),
    ("adjust_trade_position", None, {"current_time": NOW, "current_rate": 10.0}),
    ("check_exit_timeout", False, {}),
])
def test_a_wrapped_hook_passes_positional_arguments_through(name: str, answer: Any,
                                                            kwargs: dict[str, Any]) -> None:
    """IStrategy's hooks take positional parameters; a strategy's own code may use them."""
    bot = backtest(own(**{name: recorder(answer)}), 900.0, 100.0)
    if name in ("check_entry_timeout", "adjust_trade_position"):
        kwargs = {**kwargs, "trade": trade("ETH/USD", buy(1.0, 10.0, filled=0.0, is_open=True))}
    if name == "check_entry_timeout":
        kwargs["order"] = kwargs["trade"].orders[0]
    if name == "check_exit_timeout":
        kwargs = exit_timeout_kwargs(None, 10.0)  # not a trim: the strategy's to decide
    getattr(bot, name)("positional", **kwargs)
    assert bot.calls == [(("positional",), kwargs)]


@pytest.mark.parametrize("hooks", ["own", "default"])
def test_an_entry_is_measured_at_the_candle_of_its_time(hooks: str) -> None:
    """Backtest marks: BTC closed at $100, then $200 an hour later (the book doubles)."""
    btc = trade("BTC/USD", buy(1.0, 100.0))
    cls = own(custom_stake_amount=recorder(500.0)) if hooks == "own" else own()
    bot, _ = strategy(cls, RunMode.BACKTEST, 900.0)
    PairLocks.use_db = False
    with_parts(bot, open_trades=lambda: [btc])
    bot.cap_adapter.marks.marks.preload("BTC/USD", pd.DataFrame({
        "date": [NOW - timedelta(hours=2), NOW - timedelta(hours=1)], "close": [100.0, 200.0]}))
    # at NOW: $200 of $1100 held, target 23 % = $253: $53 headroom
    assert bot.custom_stake_amount(**stake_kwargs(proposed_stake=500.0)) == pytest.approx(53.0)
    earlier = stake_kwargs(proposed_stake=500.0, current_time=NOW - timedelta(hours=1))
    assert bot.custom_stake_amount(**earlier) == pytest.approx(130.0)  # $100 of $1000


def test_a_strategys_own_confirm_is_and_ed_after_the_cap() -> None:
    refusing = backtest(own(confirm_trade_entry=recorder(False)), 900.0, 100.0)
    assert refusing.confirm_trade_entry(pair="ETH/USD", current_time=NOW) is False
    agreeing = cooling(backtest(own(confirm_trade_entry=recorder(True)), 900.0, 100.0),
                       "ADA/USD")
    assert agreeing.confirm_trade_entry(pair="ETH/USD", current_time=NOW) is True
    assert agreeing.confirm_trade_entry(pair="ADA/USD", current_time=NOW) is False
    assert len(agreeing.calls) == 1  # the cap refused first: the strategy was not asked


@pytest.mark.parametrize(("fresh", "entry_tag", "current", "allowed"), [
    (True, None, True, True),
    (True, None, False, False),          # judged at the entry's time, not the wall clock
    (False, None, True, False),          # stale candles refuse a signal
    (False, "force_entry", True, True),  # but not the operator's /forceenter
])
@pytest.mark.parametrize("hooks", ["own", "default"])
def test_confirm_judges_candles_at_the_entrys_time_and_lets_forceenter_pass(
        fresh: bool, entry_tag: str | None, current: bool, allowed: bool, hooks: str) -> None:
    import pandas as pd

    cls = own(confirm_trade_entry=recorder(True)) if hooks == "own" else own()
    bot, _ = strategy(cls, RunMode.DRY_RUN, 1000.0)
    newest = NOW - timedelta(hours=1 if fresh else 3)  # the candle closed at NOW opened 11:00
    frame = pd.DataFrame({"date": pd.date_range(end=newest, periods=3, freq="1h"),
                          "close": [1.0, 1.0, 1.0]})
    bot.dp.get_analyzed_dataframe = lambda *_a: (frame, NOW)
    kwargs: dict[str, Any] = {"pair": "ETH/USD", "entry_tag": entry_tag}
    if current:
        kwargs["current_time"] = NOW
    assert bot.confirm_trade_entry(**kwargs) is allowed


@pytest.mark.parametrize("hooks", ["own", "default"])
def test_confirm_refuses_a_pair_in_cooldown_only(hooks: str) -> None:
    cls = own(confirm_trade_entry=recorder(True)) if hooks == "own" else own()
    bot = cooling(backtest(cls, 900.0, 100.0), "ADA/USD")
    assert bot.confirm_trade_entry(pair="ADA/USD", current_time=NOW) is False
    assert bot.confirm_trade_entry(pair="SOL/USD", current_time=NOW) is True


def test_the_caps_trim_goes_before_a_strategys_own_adjustment() -> None:
    btc = trade("BTC/USD", buy(3.0, 100.0))
    bot = backtest(own(adjust_trade_position=recorder(25.0)), 700.0, 300.0)
    bot.bot_loop_start(current_time=NOW)
    stake, tag = bot.adjust_trade_position(**dca_kwargs(btc))
    assert tag == "trim" and stake == pytest.approx(-70.0)
    assert getattr(bot, "calls", []) == []  # the strategy was not asked this time
    placed = bot.cap.trim_state.open_trims["BTC/USD"].placed_at
    assert placed == NOW.timestamp()
    eth = trade("ETH/USD", buy(1.0, 10.0))
    assert bot.adjust_trade_position(**dca_kwargs(eth)) is None  # REDUCING: its DCA refused
    assert len(bot.calls) == 1


def test_a_strategys_own_adjustment_is_gated_with_freqtrades_arguments() -> None:
    btc = trade("BTC/USD", buy(1.0, 100.0))
    bot = backtest(own(adjust_trade_position=recorder((500.0, "dca"))), 900.0, 100.0)
    kwargs = dca_kwargs(btc)
    assert bot.adjust_trade_position(**kwargs) == (pytest.approx(130.0), "dca")
    assert bot.calls == [((), kwargs)]


def test_a_strategys_own_loop_and_fill_hooks_run_after_the_caps() -> None:
    def loop(self: Any, **kwargs: Any) -> None:
        self.seen = [*getattr(self, "seen", []), ("loop", self.cap.cycle, kwargs)]

    def filled(self: Any, *args: Any, **kwargs: Any) -> None:
        self.seen = [*getattr(self, "seen", []), ("filled", list(self.cap.trim_latencies),
                                                  args, kwargs)]

    btc = trade("BTC/USD", buy(3.0, 100.0))
    bot = backtest(own(bot_loop_start=loop, order_filled=filled), 700.0, 300.0)
    bot.bot_loop_start(current_time=NOW)
    assert bot.seen == [("loop", 1, {"current_time": NOW})]  # the cap's loop came first
    assert bot.adjust_trade_position(trade=btc, current_time=NOW) is not None
    fill = order("sell", 0.7, 100.0, filled=0.7, is_open=False, tag="trim")
    later = NOW + timedelta(seconds=12.5)
    bot.order_filled("positional", pair="BTC/USD", trade=btc, order=fill, current_time=later)
    assert bot.seen[1] == ("filled", [12.5], ("positional",),
                           {"pair": "BTC/USD", "trade": btc, "order": fill,
                            "current_time": later})


def exit_timeout_kwargs(tag: str | None, age_seconds: float, pair: str = "BTC/USD"
                        ) -> dict[str, Any]:
    """freqtrade's ``check_exit_timeout`` arguments for an open sell order placed at OPENED."""
    sell = order("sell", 0.7, 100.0, filled=0.0, is_open=True, tag=tag)
    return {"pair": pair, "trade": None, "order": sell,
            "current_time": OPENED + timedelta(seconds=age_seconds)}


def trimming(bot: Any, btc: Any) -> Any:
    """``bot`` (over its cap) with an open trim of ``btc`` (BTC/USD) placed at OPENED."""
    bot.bot_loop_start(current_time=OPENED)
    assert bot.adjust_trade_position(trade=btc, current_time=OPENED) is not None
    assert "BTC/USD" in bot.cap.trim_state.open_trims
    return bot


@pytest.mark.parametrize(("tag", "age", "own_answer", "cancelled"), [
    ("trim", 76.0, False, True),     # a trim older than trim_timeout_seconds (75): cancelled
    ("trim", 75.0, False, False),    # exactly at the timeout: kept
    ("trim", 75.0, True, True),      # the strategy's own time-out still applies
    (None, 500.0, False, False),     # not a trim: the strategy decides
    (None, 500.0, True, True),
])
def test_exit_orders_time_out_by_the_cap_for_trims_or_by_the_strategy(
        tag: str | None, age: float, own_answer: bool, cancelled: bool) -> None:
    btc = trade("BTC/USD", buy(3.0, 100.0))
    bot = trimming(backtest(own(check_exit_timeout=recorder(own_answer)), 700.0, 300.0), btc)
    assert bot.check_exit_timeout(**exit_timeout_kwargs(tag, age)) is cancelled
    plain = trimming(backtest(own(), 700.0, 300.0), btc)
    assert plain.check_exit_timeout(**exit_timeout_kwargs(tag, age)) is (
        cancelled and not own_answer or tag == "trim" and age > 75)


def test_a_trim_order_whose_trim_the_state_no_longer_holds_is_cancelled_at_any_age() -> None:
    """A replacement placed after its trim began and expired by the planner: left open, the
    pair would be sold twice."""
    bot = backtest(own(), 700.0, 300.0)
    assert bot.check_exit_timeout(**exit_timeout_kwargs("trim", 1.0)) is True
    assert bot.check_exit_timeout(**exit_timeout_kwargs(None, 1.0)) is False


def test_a_timed_out_trim_is_cancelled_in_the_caps_state() -> None:
    btc = trade("BTC/USD", buy(3.0, 100.0))
    bot = backtest(own(), 700.0, 300.0)
    bot.bot_loop_start(current_time=OPENED)
    assert bot.adjust_trade_position(trade=btc, current_time=OPENED) is not None
    assert bot.check_exit_timeout(**exit_timeout_kwargs("trim", 76.0)) is True
    assert "BTC/USD" not in bot.cap.trim_state.open_trims
    assert bot.cap.trim_state.failed == 1


def test_the_mixins_own_fill_hook_records_the_trims_latency() -> None:
    btc = trade("BTC/USD", buy(3.0, 100.0))
    bot = backtest(own(), 700.0, 300.0)
    bot.bot_loop_start(current_time=NOW)
    bot.adjust_trade_position(trade=btc, current_time=NOW)
    fill = order("sell", 0.7, 100.0, filled=0.7, is_open=False, tag="trim")
    bot.order_filled(pair="BTC/USD", order=fill, current_time=NOW + timedelta(seconds=3))
    assert bot.cap.trim_latencies == [3.0]


# ------------------------------------------------------------------ class creation
def test_a_class_made_again_from_its_namespace_is_not_wrapped_twice() -> None:
    """cloudpickle re-creates a strategy class in hyperopt's workers from its namespace, whose
    hooks are already wrapped: the cap's loop must still run once per iteration."""
    cls = own(bot_loop_start=recorder(None), custom_stake_amount=recorder(500.0))
    namespace = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
    again = type(cls.__name__, cls.__bases__, namespace)
    bot = backtest(again, 900.0, 100.0)
    bot.bot_loop_start(current_time=NOW)
    assert bot.cap.cycle == 1 and len(bot.calls) == 1
    assert bot.custom_stake_amount(**stake_kwargs()) == pytest.approx(130.0)
    # a bot's loop: a second run of the cap's loop at the same time would count a cycle more
    # (a backtest's would start a fresh cap instead, and look the same)
    live, _ = strategy(again, RunMode.DRY_RUN, 900.0)
    live.bot_loop_start(current_time=NOW)
    assert live.cap.cycle == 1


@pytest.mark.parametrize("declared", ["list", "property", "inherited"])
def test_declared_protections_link_the_exposure_cap_to_this_strategys_cap(
        declared: str) -> None:
    listed = [{"method": "ExposureCap"}, {"method": "StoplossGuard", "lookback_period": 60}]
    if declared == "list":
        cls = own(protections=listed)
    elif declared == "property":
        cls = own(protections=property(lambda self: listed))
    else:
        cls = type("Own", (ExposureCapMixin, type("Declares", (StrategyDouble,), {
            "protections": listed})), {})
    first, second = backtest(cls, 900.0, 100.0), backtest(cls, 900.0, 100.0)
    for bot in (first, second):
        linked = bot.protections
        assert linked == [{"method": "ExposureCap", CONTROLLER_KEY: bot.cap}, listed[1]]
    assert listed[0] == {"method": "ExposureCap"}  # the declaration itself is not changed


# ------------------------------------------------------------------ outside the cap's modes
@pytest.mark.parametrize("runmode", [RunMode.PLOT, RunMode.WEBSERVER])
def test_outside_trading_and_backtesting_every_hook_is_the_strategys_alone(
        runmode: RunMode) -> None:
    btc = trade("BTC/USD", buy(3.0, 100.0))
    cls = own(adjust_trade_position=recorder(500.0))
    bot, _ = strategy(cls, runmode, 700.0)
    bot.bot_loop_start(current_time=NOW)
    assert bot.custom_stake_amount(**stake_kwargs(proposed_stake=5000.0)) == 5000.0
    assert bot.confirm_trade_entry(pair="ETH/USD", current_time=NOW) is True
    assert bot.adjust_trade_position(**dca_kwargs(btc)) == 500.0
    assert bot.check_exit_timeout(**exit_timeout_kwargs("trim", 500.0)) is False
    entry = order("buy", 1.0, 100.0, filled=0.0, is_open=True)
    assert bot.check_entry_timeout(pair="BTC/USD", trade=btc, order=entry,
                                   current_time=NOW) is False
    bot.order_filled(pair="BTC/USD", order=order("sell", 1.0, 100.0, filled=1.0,
                                                 is_open=False, tag="trim"), current_time=NOW)
    assert bot._cap_gate_position_increase("BTC/USD", 5000.0) == 5000.0
    assert bot.cap.cycle == 0 and bot.cap.trim_latencies == []


# ------------------------------------------------------------------ start-up and shutdown
@pytest.fixture
def handlers() -> Iterator[None]:
    """freqtrade's SIGTERM handler, which start-up latches (with SIGINT's): put back after."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def term_handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, term_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where the shell ignores it
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.fixture
def no_global_patches(monkeypatch: pytest.MonkeyPatch) -> None:
    """freqtrade's classes stay as they are for the other tests of this process."""
    from types import SimpleNamespace

    stub = SimpleNamespace(install=lambda *_a, **_k: True)
    for name in ("execute_entry_gate", "idempotent_create", "market_fill"):
        monkeypatch.setattr(cap_mixin, name, stub)


class Started(ExposureCapMixin, StrategyDouble):
    def ft_bot_start(self, **kwargs: Any) -> None:
        super().ft_bot_start(**kwargs)

    def ft_bot_cleanup(self) -> None:
        super().ft_bot_cleanup()


class Freqtrade(StrategyDouble):
    """IStrategy's own ``ft_bot_start`` / ``ft_bot_cleanup``, recording that they ran."""

    def ft_bot_start(self, **kwargs: Any) -> None:
        self.started = kwargs

    def ft_bot_cleanup(self) -> None:
        self.cleaned = True


def config_dir(tmp_path: Path, port: int) -> Path:
    """The shipped configuration with the metrics exporter on ``port``."""
    policy = (REPO / "config" / "policy.yaml").read_text().replace("  port: 9090",
                                                                   f"  port: {port}")
    (tmp_path / "policy.yaml").write_text(policy)
    (tmp_path / "universe.yaml").write_text((REPO / "config" / "universe.yaml").read_text())
    (tmp_path / "config.json").write_text("{}")
    return tmp_path / "config.json"


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def started_bot(runmode: RunMode, config_file: Path, balance: float = 700.0) -> Any:
    cls = type("Bot", (ExposureCapMixin, Freqtrade), {})
    bot, _ = strategy(cls, runmode, balance, {"BTC/USD": 100.0})
    bot.config["config_files"] = [str(config_file)]
    del bot.config[RUNTIME_KEY]  # the bot's runtime is made at start, as in freqtrade
    return bot


def test_a_dry_run_start_reconciles_trades_restores_the_cap_and_serves_metrics(
        tmp_path: Path, handlers: None, no_global_patches: None,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    port = free_port()
    # a trade whose amount disagrees with its orders (a fill written, the trade not updated)
    btc = trade("BTC/USD", buy(3.0, 100.0))
    btc.amount = 2.5
    Trade.commit()
    before = CapState.REDUCING
    saved = {"cycle": 7, "trim_state": {"version": 1, "cap_state": before.value}}
    StateStore.of_freqtrade().save("trader247_cap_state", json.dumps(saved))
    bot = started_bot(RunMode.DRY_RUN, config_dir(tmp_path, port))
    try:
        bot.ft_bot_start(marker=1)
        assert bot.started == {"marker": 1}  # freqtrade's own start ran too
        assert "TRADE_RECONCILED: pair=BTC/USD" in caplog.text
        assert Trade.get_open_trades()[0].amount == pytest.approx(3.0)
        assert bot.cap.cycle == 7 and bot.cap.state is before
        assert [r.getMessage() for r in caplog.records
                if r.getMessage().startswith("SIGNALS_LATCHED")] == [
            "SIGNALS_LATCHED: signals=SIGTERM,SIGINT"]
        metrics = bot.config[RUNTIME_KEY].metrics
        assert metrics is not None and listening(port)
        assert metrics.registry.get_sample_value(
            "trader247_universe_eligible_pairs", {"tier": "tier_1_core"}) == 0.0
    finally:
        bot.ft_bot_cleanup()
    assert bot.cleaned is True and not listening(port)


class Installs:
    """The order-path patches, recording what each was installed on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[tuple[str, Any]] = []
        for name in ("execute_entry_gate", "idempotent_create", "market_fill"):
            monkeypatch.setattr(cap_mixin, name, SimpleNamespace(
                install=lambda *args, _name=name: self.made.append((_name, *args)) or True))


@pytest.mark.parametrize("with_exchange", [True, False])
def test_a_dry_run_start_installs_the_order_path_on_the_bots_own_exchange_object(
        with_exchange: bool, tmp_path: Path, handlers: None, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    installs = Installs(monkeypatch)
    monkeypatch.setattr(cap_mixin, "latch_signals", lambda: [])  # a platform without signals
    bot = started_bot(RunMode.DRY_RUN, config_dir(tmp_path, free_port()))
    exchange = SimpleNamespace(name="coinbase")
    if with_exchange:
        bot.dp._exchange = exchange
    try:
        bot.ft_bot_start()
    finally:
        bot.ft_bot_cleanup()
    assert installs.made == [("execute_entry_gate",)] + (
        [("idempotent_create", exchange), ("market_fill", exchange)] if with_exchange else [])
    assert "SIGNALS_LATCHED: signals=none" in [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("runmode", [RunMode.BACKTEST, RunMode.DRY_RUN])
def test_a_bad_policy_file_stops_the_start_not_the_first_candle(
        runmode: RunMode, tmp_path: Path, handlers: None, no_global_patches: None) -> None:
    config_file = config_dir(tmp_path, free_port())
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy.read_text().replace("max_total_at_risk_pct: 25.0",
                                                 "max_total_at_risk_pct: lots"))
    bot = started_bot(runmode, config_file)
    with pytest.raises(Trader247ConfigError, match="max_total_at_risk_pct"):
        bot.ft_bot_start()
    assert getattr(bot, "started", None) is None  # freqtrade's own start did not run either


def test_a_start_builds_a_fresh_cap_each_time(tmp_path: Path) -> None:
    """``/reload_config`` and each backtest of ``--strategy-list`` start the strategy again."""
    cls = type("Bot", (ExposureCapMixin, Freqtrade), {
        "position_adjustment_enable": True})
    bot = backtest(cls, 700.0, 300.0)
    bot.ft_bot_start()
    bot.cap_adapter.exposure = backtest(cls, 900.0, 100.0).cap_adapter.exposure
    bot.bot_loop_start(current_time=NOW)  # calm: this run needs no trims
    assert bot.position_adjustment_enable is False
    first = bot.cap_adapter
    bot.position_adjustment_enable = True
    bot.ft_bot_start()
    assert bot.cap_adapter is not first and bot.cap.cycle == 0
    bot.cap_adapter.exposure = first.exposure
    bot.bot_loop_start(current_time=NOW)
    assert bot.position_adjustment_enable is False  # decided again for the new run


def test_a_backtest_start_latches_nothing_and_serves_no_metrics(
        tmp_path: Path, handlers: None, no_global_patches: None,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    port = free_port()
    bot = started_bot(RunMode.BACKTEST, config_dir(tmp_path, port))
    bot.ft_bot_start()
    assert "SIGNALS_LATCHED" not in caplog.text and not listening(port)
    assert bot.config.get(RUNTIME_KEY) is None
    bot.ft_bot_cleanup()
    assert "persisted on shutdown" not in caplog.text  # nothing is stored in backtests


def test_a_shutdown_before_any_start_only_runs_freqtrades_cleanup() -> None:
    cls = type("Bot", (ExposureCapMixin, Freqtrade), {})
    bot = cls()
    bot.config = {}
    bot.ft_bot_cleanup()
    assert bot.cleaned is True


@pytest.mark.parametrize(("written", "level", "message"), [
    (True, "INFO", "cap state persisted on shutdown"),
    (False, "WARNING", "cap state not persisted on shutdown (see above)"),
])
def test_the_shutdown_writes_the_cap_state_and_says_whether_it_could(
        written: bool, level: str, message: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    cls = type("Bot", (ExposureCapMixin, Freqtrade), {})
    bot, _ = strategy(cls, RunMode.DRY_RUN, 700.0)
    bot.cap_adapter.persistence = type("Store", (), {
        "persist": lambda self, controller: written})()
    left: list[str] = []
    bot.cap_adapter.fleet = type("Member", (), {"leave": lambda self: left.append("left")})()
    bot.ft_bot_cleanup()
    assert [(r.levelname, r.getMessage()) for r in caplog.records
            if "shutdown" in r.getMessage()] == [(level, message)]
    assert left == ["left"] and bot.cleaned is True


def test_a_failed_shutdown_write_is_logged_with_its_error(
        caplog: pytest.LogCaptureFixture) -> None:
    cls = type("Bot", (ExposureCapMixin, Freqtrade), {})
    bot, _ = strategy(cls, RunMode.DRY_RUN, 700.0)

    class Gone:
        def persist(self, controller: Any) -> bool:
            raise RuntimeError("database gone")

    bot.cap_adapter.persistence = Gone()
    bot.ft_bot_cleanup()
    assert [(r.levelname, r.getMessage()) for r in caplog.records
            if "shutdown" in r.getMessage()] == [
        ("WARNING", "cap state not persisted on shutdown: database gone")]
