"""Plugin time per bot iteration: ``observability.timed`` and the iteration window around it.

Behaviour only (what is counted, once, in which iteration): the clock is a fake that moves only
when a test moves it, so every figure is exact and nothing depends on the machine's speed. What
the timing costs and how close it comes to real time is measured by ``bench/plugin_timing.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.plugins.test_pairlist import BASE_MARKET, FakeExchange, load
from tests.strategy_double import StrategyDouble
from trader247.adapters import observability
from trader247.metrics.exporter import Metrics
from trader247.patches import iteration_timing
from trader247.strategy import ExposureCapMixin


class FakeClock:
    """``perf_counter`` of the code under test. Binary fractions keep every sum exact."""

    def __init__(self) -> None:
        self.now = 1024.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


CLOCK = FakeClock()


@pytest.fixture(autouse=True)
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    monkeypatch.setattr(observability, "perf_counter", CLOCK)  # timed()
    monkeypatch.setattr(time, "perf_counter", CLOCK)  # the start-up hook's process() wrapper
    return CLOCK


def advancing(function: Callable[..., Any], seconds: float) -> Callable[..., Any]:
    """``function`` taking ``seconds`` of the fake clock."""

    def run(*args: Any, **kwargs: Any) -> Any:
        CLOCK.advance(seconds)
        return function(*args, **kwargs)

    return run


class Plugin:
    """A plugin of one bot: its runtime is found through its config, as for ours."""

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}

    @observability.timed("pairlist")
    def work(self, seconds: float = 0.0, fail: bool = False) -> str:
        CLOCK.advance(seconds)
        if fail:
            raise RuntimeError("boom")
        return "done"


PLUGIN = Plugin()


def runtime() -> observability.Runtime:
    return observability.runtime_of(PLUGIN.config)


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    PLUGIN.config.clear()
    m = runtime().metrics = Metrics(process_collectors=False)
    runtime().begin_iteration()
    yield m
    PLUGIN.config.clear()


def v(m: Metrics, name: str, **labels: str) -> float:
    value = m.registry.get_sample_value(name, labels)
    assert value is not None, name
    return value


def work(seconds: float = 0.0, fail: bool = False) -> str:
    return PLUGIN.work(seconds, fail)


def test_without_exporter_nothing_is_counted() -> None:
    PLUGIN.config.clear()
    runtime().begin_iteration()
    assert work(0.25) == "done"
    assert runtime().clock.seconds == 0.0
    assert runtime().clock.hooks == {}


def test_two_bots_in_one_process_count_apart(metrics: Metrics) -> None:
    other = Plugin()  # a second bot (a backtest next to it): its own config, no exporter
    other.work(0.5)
    work(0.25)
    runtime().record_iteration(1.0)
    assert v(metrics, "trader247_plugin_hook_seconds_total", hook="pairlist") == 0.25
    assert observability.plugin_runtime(other) is None


def test_one_iteration_is_observed_then_reset(metrics: Metrics) -> None:
    work(0.25)
    work(0.125)
    CLOCK.advance(4.0)  # outside our plugins: not plugin time
    runtime().record_iteration(1.0)
    assert v(metrics, "trader247_bot_iteration_plugin_seconds_count") == 1
    assert v(metrics, "trader247_bot_iteration_plugin_seconds_sum") == 0.375
    assert v(metrics, "trader247_plugin_hook_calls_total", hook="pairlist") == 2
    assert v(metrics, "trader247_plugin_hook_seconds_total", hook="pairlist") == 0.375
    assert v(metrics, "trader247_bot_iteration_duration_seconds_sum") == 1.0

    runtime().record_iteration(0.5)  # nothing ran in this one
    assert v(metrics, "trader247_bot_iteration_plugin_seconds_count") == 2
    assert v(metrics, "trader247_bot_iteration_plugin_seconds_sum") == 0.375


def test_nested_calls_count_once_and_errors_still_count(metrics: Metrics) -> None:
    @observability.timed("bot_loop_start")
    def outer(_plugin: Plugin) -> str:
        return work(0.25) + work(0.25)

    assert outer(PLUGIN) == "donedone"
    with pytest.raises(RuntimeError):
        work(0.125, fail=True)
    assert work(0.0625) == "done"  # the failed call did not leave the clock busy
    runtime().record_iteration(1.0)
    assert v(metrics, "trader247_plugin_hook_calls_total", hook="bot_loop_start") == 1
    assert v(metrics, "trader247_plugin_hook_seconds_total", hook="bot_loop_start") == 0.5
    assert v(metrics, "trader247_plugin_hook_calls_total", hook="pairlist") == 2
    assert v(metrics, "trader247_plugin_hook_seconds_total", hook="pairlist") == 0.1875
    assert v(metrics, "trader247_bot_iteration_plugin_seconds_sum") == 0.6875


def test_time_before_the_iteration_and_in_other_threads_is_not_counted(
    metrics: Metrics,
) -> None:
    work(0.5)  # e.g. the start-up whitelist, before the first process()
    runtime().begin_iteration()
    thread = threading.Thread(target=work, args=(0.25,))  # e.g. /forceenter in the API thread
    thread.start()
    thread.join()
    runtime().record_iteration(1.0)
    assert v(metrics, "trader247_bot_iteration_plugin_seconds_sum") == 0.0
    assert v(metrics, "trader247_plugin_hook_calls_total", hook="pairlist") == 0


def test_start_up_hook_times_the_iteration_around_the_plugins(metrics: Metrics) -> None:
    class Bot:
        def __init__(self) -> None:
            self.config = PLUGIN.config

        def process(self) -> str:
            work(0.25)
            CLOCK.advance(0.5)  # freqtrade's own work in the iteration
            return "processed"

        def execute_entry(self, pair: str, stake_amount: float, **kwargs: Any) -> bool:
            return True

    iteration_timing.install(observability.begin_bot_iteration,
                             observability.record_bot_iteration, Bot)
    work(2.0)  # between iterations: dropped by begin_iteration
    assert Bot().process() == "processed"
    assert v(metrics, "trader247_bot_iteration_plugin_seconds_sum") == 0.25
    assert v(metrics, "trader247_bot_iteration_duration_seconds_sum") == 0.75
    assert v(metrics, "trader247_plugin_hook_calls_total", hook="pairlist") == 1


def test_mixin_hooks_are_timed_once_when_a_strategy_overrides_them(
    metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Strategy(ExposureCapMixin, StrategyDouble):
        def bot_loop_start(self, **kwargs: Any) -> None:
            super().bot_loop_start(**kwargs)  # the mixin's default, timed too

    strategy = Strategy()
    strategy.config = PLUGIN.config
    strategy.config["runmode"] = "plot"  # outside the cap's run modes: the hooks do nothing
    strategy.bot_loop_start(current_time=None)
    strategy.adjust_trade_position(trade=None, current_time=None)
    runtime().record_iteration(1.0)
    assert v(metrics, "trader247_plugin_hook_calls_total", hook="bot_loop_start") == 1
    assert v(metrics, "trader247_plugin_hook_calls_total", hook="adjust_trade_position") == 1


def test_pairlist_refresh_is_timed(metrics: Metrics) -> None:
    exchange = FakeExchange(dict(BASE_MARKET))
    exchange.get_tickers = advancing(exchange.get_tickers, 0.125)  # type: ignore[method-assign]
    pairlist = load(exchange)
    pairlist._config[observability.RUNTIME_KEY] = runtime()  # the bot's one config dict
    runtime().begin_iteration()
    assert pairlist.gen_pairlist({})[:3] == ["BTC/USD", "ETH/USD", "SOL/USD"]
    runtime().record_iteration(1.0)
    # gen_pairlist calls filter_pairlist: one timed call, its exchange calls included.
    assert v(metrics, "trader247_plugin_hook_calls_total", hook="pairlist") == 1
    assert v(metrics, "trader247_plugin_hook_seconds_total", hook="pairlist") == 0.125
