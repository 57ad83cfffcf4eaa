"""The bot's runtime: its metrics, its latest universe decision and its plugin time.

Decision (no process-wide state): freqtrade hands the SAME ``config`` dict to
every plugin of one bot (strategy, pairlists, protections), so the runtime lives in that dict
under :data:`RUNTIME_KEY` and :func:`runtime_of` is the one place that finds it. Two bots in one
process (a backtest next to a hyperopt, tests, FreqUI backtests in webserver mode) have two config
dicts and therefore two runtimes. A ``deepcopy`` of the config (freqtrade's REST API evaluates
pairlists and backtests on copies) gets a fresh, unstarted runtime, so a copy never reports into
the bot's metrics; pickling (hyperopt workers) does the same.

The metrics exporter starts from the strategy's ``ft_bot_start`` (dry-run and live only, never in
backtesting / hyperopt) on ``metrics.host:metrics.port`` of ``policy.yaml``. A busy port is one
clear error and the bot keeps trading. ``ft_bot_cleanup`` closes it: freqtrade's
``/reload_config`` builds a new config, hence a new runtime, which binds the port again (its
counters start from zero, as after a restart).

Plugin time: every entry point of our plugins that freqtrade calls (pairlist, cap hooks) is
decorated with :func:`timed`; it finds the runtime through the plugin's own config (``config``
of a strategy, ``_config`` of a pairlist). The time is summed per thread between the start and
the end of ``FreqtradeBot.process`` (``trader247.patches.iteration_timing``, installed when the
exporter starts), so the bot loop's share is exported next to the iteration time. Calls from
other threads (a ``/forceenter`` in the REST API thread) are outside the loop and not counted.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from time import perf_counter, time
from typing import TYPE_CHECKING, Any, TypeVar, cast

from trader247.metrics import exporter
from trader247.patches import iteration_timing

if TYPE_CHECKING:
    from trader247.adapters.cap_controller import CapController
    from trader247.core.config import PolicyConfig
    from trader247.core.universe import UniverseResult

RUNTIME_KEY = "_trader247_runtime"
"""The key of freqtrade's config dict that holds the bot's :class:`Runtime`."""
_F = TypeVar("_F", bound=Callable[..., Any])


class PluginClock(threading.local):
    """Plugin time of the current iteration, per thread (no lock on the hot path)."""

    def __init__(self) -> None:
        self.busy = False
        self.seconds = 0.0
        self.hooks: dict[str, list[float]] = {}  # hook -> [seconds, calls]


@dataclass(eq=False)
class Runtime:
    """One bot's observability state. Every ``record_*`` is a no-op until metrics started."""

    metrics: exporter.Metrics | None = None
    universe: UniverseResult | None = None
    server: exporter.MetricsServer = field(default_factory=exporter.MetricsServer)
    clock: PluginClock = field(default_factory=PluginClock)

    def __deepcopy__(self, memo: dict[int, Any]) -> Runtime:
        return Runtime()

    def __reduce__(self) -> tuple[type[Runtime], tuple[()]]:
        return (Runtime, ())

    def start(self, config: Mapping[str, Any], policy: PolicyConfig, tiers: Iterable[str]) -> None:
        runmode = config.get("runmode")
        if not policy.metrics.enabled or not exporter.should_start(
                str(getattr(runmode, "value", runmode))):
            return
        if self.metrics is not None:
            self.metrics.config_loaded(time())  # the strategy was started again on it
            return
        metrics = exporter.Metrics(stake_currency=config["stake_currency"], tiers=tiers)
        self.server.start(policy.metrics.host, policy.metrics.port, metrics)
        self.metrics = metrics
        metrics.config_loaded(time())
        iteration_timing.install(begin_bot_iteration, record_bot_iteration)
        if self.universe is not None:  # freqtrade builds the first whitelist before this
            metrics.update_universe(self.universe)

    def close(self) -> None:
        self.server.stop()

    def active(self) -> exporter.Metrics | None:
        return self.metrics

    def latest_universe(self) -> UniverseResult | None:
        return self.universe

    def publish_universe(self, result: UniverseResult) -> None:
        self.universe = result
        if self.metrics is not None:
            self.metrics.update_universe(result)

    def record_cap(self, controller: CapController) -> None:
        if self.metrics is not None and controller.last_exposure is not None:
            self.metrics.update_cap(controller.last_exposure, controller.state,
                                    controller.trim_state, controller.last_plan)

    def record_fleet(self, fleet: str, bot: str, at_risk_pct: float, members: int,
                     reservations: int, leader: bool, available: bool) -> None:
        if self.metrics is not None:
            self.metrics.update_fleet(fleet=fleet, bot=bot, at_risk_pct=at_risk_pct,
                                      members=members, reservations=reservations, leader=leader,
                                      available=available)

    def record_trim_latency(self, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.trim_filled(seconds)

    def record_exchange_error(self, endpoint: str) -> None:
        if self.metrics is not None:
            self.metrics.exchange_error(endpoint)

    def record_pnl(self, realised: float, unrealised: float, open_trades: int) -> None:
        if self.metrics is not None:
            self.metrics.update_pnl(realised, unrealised, open_trades)

    def begin_iteration(self) -> None:
        """Start a new iteration's plugin time (work between iterations is not the loop's)."""
        self.clock.seconds = 0.0
        self.clock.hooks = {}

    def record_iteration(self, seconds: float) -> None:
        """One iteration took ``seconds``; its plugin time is observed too, then reset."""
        clock = self.clock
        plugin, hooks = clock.seconds, clock.hooks
        clock.seconds, clock.hooks = 0.0, {}
        if self.metrics is not None:
            # Plugin time first: a scraper that sees the iteration count move sees both.
            self.metrics.observe_plugin_time(
                plugin, {hook: (total[0], int(total[1])) for hook, total in hooks.items()})
            self.metrics.observe_iteration(seconds)


def runtime_of(config: dict[str, Any]) -> Runtime:
    """The runtime of the bot ``config`` belongs to, created on first use."""
    runtime = config.get(RUNTIME_KEY)
    if not isinstance(runtime, Runtime):
        runtime = config[RUNTIME_KEY] = Runtime()
    return runtime


def plugin_runtime(plugin: Any) -> Runtime | None:
    """The runtime of a strategy (``config``), pairlist (``_config``) or bot (``config``), if
    the bot made one. Instance attributes only (freqtrade sets both in ``__init__``): this runs
    on every timed hook call, once per candle and trade in backtests."""
    attributes = getattr(plugin, "__dict__", None)
    if attributes is None:
        return None
    config = attributes.get("config")
    if config is None:
        config = attributes.get("_config")
    if config.__class__ is not dict:
        return None
    runtime: Runtime | None = config.get(RUNTIME_KEY)
    return runtime


def begin_bot_iteration(bot: Any) -> None:
    runtime = plugin_runtime(bot)
    if runtime is not None:
        runtime.begin_iteration()


def record_bot_iteration(bot: Any, seconds: float) -> None:
    runtime = plugin_runtime(bot)
    if runtime is not None:
        runtime.record_iteration(seconds)


def timed(hook: str) -> Callable[[_F], _F]:
    """Count the decorated plugin method's time under ``hook`` (see the module doc).

    Without a started exporter (backtesting, hyperopt, tests) the cost is two attribute lookups
    and one extra call: backtests call the cap hooks once per candle and trade. A timed call made
    inside another (``gen_pairlist`` -> ``filter_pairlist``, a strategy hook calling the mixin's
    through ``super()``) is counted once, by the outermost one.
    """

    def decorate(function: _F) -> _F:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            runtime = plugin_runtime(args[0]) if args else None
            if runtime is None or runtime.metrics is None or runtime.clock.busy:
                return function(*args, **kwargs)
            clock = runtime.clock
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
