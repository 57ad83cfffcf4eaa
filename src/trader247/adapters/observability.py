"""Metrics and chat for the plugins: every call is a no-op unless the exporter was started.

The exporter starts once per process from the strategy's ``ft_bot_start`` (dry-run and live only,
never in backtesting / hyperopt), on ``metrics.host:metrics.port`` of ``policy.yaml``
(default 127.0.0.1:9090). A busy port is one clear error and the bot keeps trading. Iteration
time is measured around ``FreqtradeBot.process`` (``trader247.patches.iteration_timing``,
installed here when the exporter starts).

Plugin time: every entry point of our plugins that freqtrade calls (pairlist, cap hooks) is
decorated with :func:`timed`. The time spent in them is summed per thread between
:func:`begin_iteration` and :func:`record_iteration` (both called around ``process()``), so
the bot loop's share is exported next to the iteration time. Calls from other threads (a
``/forceenter`` in the REST API thread) are outside the loop and not counted.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from trader247.adapters.cap_controller import CapController
    from trader247.core.config import PolicyConfig
    from trader247.core.universe import UniverseResult
    from trader247.metrics.exporter import Metrics

logger = logging.getLogger(__name__)
_metrics: Metrics | None = None
_F = TypeVar("_F", bound=Callable[..., Any])


class _PluginClock(threading.local):
    """Plugin time of the current iteration, per thread (no lock on the hot path)."""

    def __init__(self) -> None:
        self.busy = False
        self.seconds = 0.0
        self.hooks: dict[str, list[float]] = {}  # hook -> [seconds, calls]


_clock = _PluginClock()


def timed(hook: str) -> Callable[[_F], _F]:
    """Count the decorated plugin entry point's time under ``hook`` (see the module doc).

    Without a running exporter (backtesting, hyperopt, tests) the cost is one global lookup
    and one extra call: backtests call the cap hooks once per candle and trade. A timed call
    made inside another (``gen_pairlist`` -> ``filter_pairlist``, a strategy hook calling the
    mixin's through ``super()``) is counted once, by the outermost one.
    """

    def decorate(function: _F) -> _F:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            if _metrics is None:
                return function(*args, **kwargs)
            clock = _clock
            if clock.busy:
                return function(*args, **kwargs)
            clock.busy = True
            start = perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = perf_counter() - start
                clock.busy = False
                clock.seconds += elapsed
                totals = clock.hooks.get(hook)
                if totals is None:
                    clock.hooks[hook] = [elapsed, 1.0]
                else:
                    totals[0] += elapsed
                    totals[1] += 1.0

        return cast(_F, run)

    return decorate


def begin_iteration() -> None:
    """Start a new iteration's plugin time (work between iterations is not the loop's)."""
    clock = _clock
    clock.seconds = 0.0
    clock.hooks = {}


def start(config: dict[str, Any], policy: PolicyConfig, tiers: Iterable[str]) -> None:
    global _metrics
    from trader247.metrics import exporter
    from trader247.patches import iteration_timing

    runmode = config.get("runmode")
    if not policy.metrics.enabled or not exporter.should_start(str(getattr(runmode, "value", runmode))):
        return
    if _metrics is not None:
        _metrics.config_reloaded()  # freqtrade's /reload_config builds a new strategy
        return
    metrics = exporter.get_metrics(stake_currency=config["stake_currency"], tiers=tiers)
    exporter.start(policy.metrics.host, policy.metrics.port, metrics=metrics)
    _metrics = metrics
    iteration_timing.install(begin_iteration, record_iteration)
    # freqtrade builds the first whitelist before the strategy starts: publish it now.
    from trader247.adapters import universe_status

    latest = universe_status.latest()
    if latest is not None:
        metrics.update_universe(latest)


def active() -> Metrics | None:
    return _metrics


def record_cap(controller: CapController) -> None:
    if _metrics is not None and controller.last_exposure is not None:
        _metrics.update_cap(controller.last_exposure, controller.state, controller.trim_state,
                            controller.last_plan)


def record_universe(result: UniverseResult) -> None:
    if _metrics is not None:
        _metrics.update_universe(result)


def record_trim_latency(seconds: float) -> None:
    if _metrics is not None:
        _metrics.trim_filled(seconds)


def record_exchange_error(endpoint: str) -> None:
    if _metrics is not None:
        _metrics.exchange_error(endpoint)


def record_pnl(realised: float, unrealised: float, open_trades: int) -> None:
    if _metrics is not None:
        _metrics.update_pnl(realised, unrealised, open_trades)


def record_iteration(seconds: float) -> None:
    """One iteration took ``seconds``; its plugin time is observed too, then reset."""
    clock = _clock
    plugin, hooks = clock.seconds, clock.hooks
    clock.seconds, clock.hooks = 0.0, {}
    if _metrics is not None:
        # Plugin time first: a scraper that sees the iteration count move sees both.
        _metrics.observe_plugin_time(
            plugin, {hook: (total[0], int(total[1])) for hook, total in hooks.items()})
        _metrics.observe_iteration(seconds)


def latest_universe() -> UniverseResult | None:
    from trader247.adapters import universe_status

    return universe_status.latest()
