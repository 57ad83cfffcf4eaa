"""``ExposureCapMixin``: the at-risk cap for any freqtrade strategy.

Usage (the mixin must come before ``IStrategy``)::

    from freqtrade.strategy import IStrategy
    from trader247.strategy import ExposureCapMixin

    class MyStrategy(ExposureCapMixin, IStrategy):
        position_adjustment_enable = True   # trims are partial exits through adjust_trade_position
        ...

What it does, per bot iteration (per candle in backtesting):
- ``bot_loop_start`` measures exposure once (``trader247.core.exposure.measure``: open positions
  at mark + stake of open entry orders, over stake-currency balance + positions), moves
  the ACTIVE / REDUCING state, sets or lifts the global ``EXPOSURE_OVER_CAP`` lock (visible in
  ``/locks``, FreqUI and Telegram; a deleted one comes back while REDUCING), tells the operator
  what changed (README "What the operator sees"), and plans at most one trim round every
  ``trim_interval_cycles`` iterations;
- ``custom_stake_amount`` clamps every entry to the headroom under the cap (REDUCING: no entry);
- ``confirm_trade_entry`` refuses entries while REDUCING, for pairs in trim cooldown and (dry-run
  / live) when the pair's newest analyzed candle is not the newest closed one (``stale_data``);
- ``adjust_trade_position`` places this round's trim for the trade as a partial exit tagged
  ``trim``; a positive adjustment (DCA) from the strategy is clamped like an entry;
- ``order_filled`` / ``check_exit_timeout`` record trim fills (latency) and cancel a trim that
  has not filled after ``trim_timeout_seconds``; it is re-planned in a later round.

Every hook only forwards to the strategy's one ``CapAdapter`` (``trader247.adapters.cap_adapter``,
whose parts are declared there). A subclass may define any of these hooks itself:
``__init_subclass__`` wraps the subclass's own method so the cap still applies to its result (a
strategy's sizing is clamped, its DCA is gated, its ``confirm_trade_entry`` is and-ed with ours).
Nothing else of the strategy is touched.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from freqtrade.persistence import Order, Trade
from freqtrade.strategy import IStrategy

from trader247.adapters import observability, protection_link
from trader247.adapters.cap_adapter import CapAdapter
from trader247.adapters.cap_build import (
    BACKTEST_RUNMODES,
    CAP_RUNMODES,
    bot_exchange,
    build_cap_adapter,
    persistent,
)
from trader247.adapters.cap_controller import CapController
from trader247.adapters.cap_marks import BacktestMarkSource
from trader247.adapters.settings import Settings
from trader247.adapters.state_store import heal_shared_session
from trader247.adapters.trade_reconcile import reconcile_open_trades
from trader247.interrupts import latch_signals, raise_if_signalled, raise_interrupt
from trader247.patches import execute_entry_gate, idempotent_create, market_fill

logger = logging.getLogger(__name__)


def _wrap_stake(user: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(user)
    def custom_stake_amount(self: ExposureCapMixin, *args: Any, **kwargs: Any) -> float:
        return self._cap_clamp_stake(float(user(self, *args, **kwargs) or 0.0), kwargs)

    return custom_stake_amount


def _wrap_confirm(user: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(user)
    def confirm_trade_entry(self: ExposureCapMixin, *args: Any, **kwargs: Any) -> bool:
        # freqtrade passes every argument of its hooks by keyword, the pair always
        allowed = self._cap_allows_entry(kwargs["pair"], kwargs.get("current_time"),
                                         kwargs.get("entry_tag"))
        return allowed and bool(user(self, *args, **kwargs))

    return confirm_trade_entry


def _wrap_adjust(user: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(user)
    def adjust_trade_position(self: ExposureCapMixin, *args: Any, **kwargs: Any) -> Any:
        trim = self._cap_trim(kwargs["trade"], kwargs["current_time"])
        if trim is not None:
            return trim
        result = user(self, *args, **kwargs)
        return self.cap_adapter.gate_adjustment(result, **kwargs) if self._cap_on() else result

    return adjust_trade_position


def _wrap_loop(user: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(user)
    def bot_loop_start(self: ExposureCapMixin, *args: Any, **kwargs: Any) -> None:
        self._cap_loop(kwargs["current_time"])
        user(self, *args, **kwargs)

    return bot_loop_start


def _wrap_filled(user: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(user)
    def order_filled(self: ExposureCapMixin, *args: Any, **kwargs: Any) -> None:
        self._cap_order_filled(kwargs["pair"], kwargs["order"], kwargs["current_time"])
        user(self, *args, **kwargs)

    return order_filled


def _wrap_exit_timeout(user: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(user)
    def check_exit_timeout(self: ExposureCapMixin, *args: Any, **kwargs: Any) -> bool:
        return self._cap_trim_timed_out(**kwargs) or bool(user(self, *args, **kwargs))

    return check_exit_timeout


def _wrap_entry_timeout(user: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(user)
    def check_entry_timeout(self: ExposureCapMixin, *args: Any, **kwargs: Any) -> bool:
        return self._cap_cancels_entry(**kwargs) or bool(user(self, *args, **kwargs))

    return check_entry_timeout


_WRAPPERS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "custom_stake_amount": _wrap_stake,
    "confirm_trade_entry": _wrap_confirm,
    "adjust_trade_position": _wrap_adjust,
    "bot_loop_start": _wrap_loop,
    "order_filled": _wrap_filled,
    "check_exit_timeout": _wrap_exit_timeout,
    "check_entry_timeout": _wrap_entry_timeout,
}


class ExposureCapMixin(IStrategy):  # type: ignore[misc]  # freqtrade is untyped
    """At-risk cap for any ``IStrategy``; see the module docstring.

    It subclasses ``IStrategy`` itself (a strategy's MRO is ``MyStrategy, ExposureCapMixin,
    <its base>, IStrategy``: the mixin's hooks come first, as before): freqtrade's hyperopt sends
    the strategy to ``-j`` > 1 workers after registering the module of every base class for
    pickling by value, walking ``__bases__`` until a class named ``IStrategy``. A plain mixin's
    chain ended at ``object`` and registered ``builtins`` (every epoch failed to pickle); this one
    ends at ``IStrategy`` like any strategy's, so only ``cap_mixin`` itself is pickled by value.
    Declaring the mixin after ``IStrategy`` is now a ``TypeError`` (no consistent MRO) instead of
    a cap whose hooks never run. Like ``IStrategy`` it is abstract: only strategies are built.

    Every hook forwards to one :class:`~trader247.adapters.cap_adapter.CapAdapter`, built in
    ``ft_bot_start`` (or on the first hook a test or freqtrade calls before it: freqtrade reads
    ``protections`` while starting). Outside dry-run, live, backtesting and hyperopt
    (plot-dataframe, the analysis commands: no trades, no database) the hooks do nothing.
    """

    position_adjustment_enable = True
    config: dict[str, Any]
    dp: Any
    wallets: Any
    timeframe: str
    stoploss: float
    _trader247_cap: CapAdapter | None = None
    # Backtests of a strategy with position adjustment on but no adjust_trade_position of its
    # own: freqtrade deep-copies the trade and calls the hook for every open trade on every
    # candle while ``position_adjustment_enable`` is set, and only the cap's trims answer there.
    # The mixin then sets it on the candles whose round has trims only (measured: the backtest
    # loop's largest cost, bench/strategy_backtest_speed.py).
    _trader247_trims_only: bool | None = None  # decided on the first loop of a run

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, wrap in _WRAPPERS.items():
            own = cls.__dict__.get(name)
            if own is not None and not getattr(own, "_trader247_wrapped", False):
                wrapped = observability.timed(name)(wrap(own))
                wrapped._trader247_wrapped = True  # type: ignore[attr-defined]
                setattr(cls, name, wrapped)
        declared = cls.__dict__.get("protections")
        if declared is not None:  # a class re-created from its namespace: link() is idempotent
            getter: Callable[[Any], Any] = (
                declared.fget if isinstance(declared, property) and declared.fget is not None
                else (lambda _self: declared))
            cls.protections = protection_link.linking(getter)  # type: ignore[assignment]

    @property
    def protections(self) -> list[Any]:
        """The strategy's protections, with ``ExposureCap`` linked to this strategy's cap."""
        return protection_link.link(super().protections, self.cap)

    # Defaults used when the strategy does not define the hook itself.
    @observability.timed("custom_stake_amount")
    def custom_stake_amount(self, *, proposed_stake: float, **kwargs: Any) -> float:
        return self._cap_clamp_stake(proposed_stake, kwargs)

    @observability.timed("confirm_trade_entry")
    def confirm_trade_entry(self, *, pair: str, **kwargs: Any) -> bool:
        return self._cap_allows_entry(pair, kwargs.get("current_time"), kwargs.get("entry_tag"))

    @observability.timed("adjust_trade_position")
    def adjust_trade_position(self, *, trade: Trade, current_time: datetime, **kwargs: Any) -> Any:
        return self._cap_trim(trade, current_time)

    @observability.timed("bot_loop_start")
    def bot_loop_start(self, *, current_time: datetime, **kwargs: Any) -> None:
        self._cap_loop(current_time)

    @observability.timed("order_filled")
    def order_filled(self, *, pair: str, order: Order, current_time: datetime,
                     **kwargs: Any) -> None:
        self._cap_order_filled(pair, order, current_time)

    @observability.timed("check_exit_timeout")
    def check_exit_timeout(self, **kwargs: Any) -> bool:
        return self._cap_trim_timed_out(**kwargs)

    @observability.timed("check_entry_timeout")
    def check_entry_timeout(self, **kwargs: Any) -> bool:
        return self._cap_cancels_entry(**kwargs)

    # ------------------------------------------------------------------ the adapter
    @property
    def cap_adapter(self) -> CapAdapter:
        """This strategy's cap adapter (built on first use if ``ft_bot_start`` has not run)."""
        if self._trader247_cap is None:
            self._trader247_cap = build_cap_adapter(self)
        return self._trader247_cap

    @property
    def cap(self) -> CapController:
        return self.cap_adapter.controller

    @property
    def trader247_settings(self) -> Settings:
        """Our YAML files for this strategy, loaded once (``ft_bot_start``)."""
        return self.cap_adapter.settings

    def _cap_on(self) -> bool:
        return self.config.get("runmode") in CAP_RUNMODES

    def ft_bot_start(self, **kwargs: Any) -> None:
        """Validate our YAML and build the adapter before the first iteration, so a bad file
        stops ``freqtrade trade`` at start with exit code 2 (not mid-run); reconcile open trades
        with their orders (``trade_reconcile``) before the cap state is restored."""
        stored = persistent(self.config)
        if stored:
            reconcile_open_trades(Trade.get_open_trades())
        self._trader247_cap = build_cap_adapter(self)
        self._trader247_trims_only = None
        super().ft_bot_start(**kwargs)
        if stored:  # freqtrade's bot (dry-run / live), not a backtest
            # A SIGTERM whose interrupt is lost still stops the bot (trader247.interrupts).
            logger.info("SIGNALS_LATCHED: signals=%s", ",".join(latch_signals()) or "none")
            execute_entry_gate.install()
            exchange = bot_exchange(self.dp)
            if exchange is not None:  # the order path, on this bot's exchange object only
                idempotent_create.install(exchange)  # live only
                market_fill.install(exchange)  # live only: a market order's fill at once
            settings = self.trader247_settings
            observability.runtime_of(self.config).start(self.config, settings.policy,
                                                        settings.universe.tier_names)

    def ft_bot_cleanup(self) -> None:
        """Freqtrade's own shutdown path (SIGTERM / SIGINT): persist our state last.

        A SIGTERM raises KeyboardInterrupt wherever the bot is, also inside a flush of
        freqtrade's shared session, which then refuses every statement and makes freqtrade's own
        final commit fail. That interrupted write was never committed, so rolling it back
        (``heal_shared_session``) loses nothing that was on disk."""
        runtime = observability.plugin_runtime(self)
        if runtime is not None:
            runtime.close()  # /reload_config: the next bot's runtime binds the port again
        adapter = self._trader247_cap
        if adapter is not None and adapter.fleet is not None:
            adapter.fleet.leave()
        if adapter is not None and adapter.persistence is not None:
            since = sys.exception()  # freqtrade's interrupt: this IS its shutdown
            try:
                heal_shared_session()
                if adapter.persist():
                    logger.info("cap state persisted on shutdown")
                else:
                    logger.warning("cap state not persisted on shutdown (see above)")
            except Exception as exc:  # the database may already be gone during shutdown
                raise_interrupt(exc, since=since)  # a second SIGTERM ends the shutdown too
                logger.warning("cap state not persisted on shutdown: %s", exc)
        super().ft_bot_cleanup()

    def advise_all_indicators(self, data: dict[str, Any]) -> dict[str, Any]:
        """Backtests and hyperopt hand every pair's whole frame here before the loop: the
        cap's marks are indexed from exactly those candles (``backtest_marks``)."""
        if self.config.get("runmode") in BACKTEST_RUNMODES:
            marks = self.cap_adapter.marks  # a BacktestMarkSource here (cap_build._marks)
            if isinstance(marks, BacktestMarkSource):
                for pair, frame in data.items():
                    marks.marks.preload(pair, frame)
        result: dict[str, Any] = super().advise_all_indicators(data)
        return result

    # ------------------------------------------------------------------ forwarding
    def _cap_loop(self, current_time: datetime) -> None:
        raise_if_signalled()  # a bot that lost its SIGTERM stops here, one iteration late
        if self._cap_on():
            self.cap_adapter.loop(current_time)
            if self._trader247_trims_only is None:
                self._trader247_trims_only = (
                    self.config.get("runmode") in BACKTEST_RUNMODES
                    and bool(type(self).position_adjustment_enable)
                    and type(self).adjust_trade_position is ExposureCapMixin.adjust_trade_position)
            if self._trader247_trims_only:  # see the attribute's comment
                plan = self.cap.last_plan
                self.position_adjustment_enable = plan is not None and bool(plan.orders)

    def _cap_clamp_stake(self, stake: float, kwargs: dict[str, Any]) -> float:
        if not self._cap_on():
            return stake
        return self.cap_adapter.clamp_stake(stake, kwargs["pair"],
                                            kwargs.get("current_time"), kwargs.get("min_stake"),
                                            kwargs.get("max_stake"),
                                            entry_tag=kwargs.get("entry_tag"))

    def _cap_allows_entry(self, pair: str, now: datetime | None, entry_tag: str | None) -> bool:
        raise_if_signalled()  # no entry after a SIGTERM, even one whose interrupt was lost
        return not self._cap_on() or self.cap_adapter.allows_entry(pair, now, entry_tag)

    def _cap_gate_position_increase(self, pair: str, stake: float,
                                    entry_tag: str | None = None) -> float:
        """``trader247.patches.execute_entry_gate`` asks this for every position increase
        (``/forceenter`` on a held pair reaches neither ``custom_stake_amount`` nor
        ``confirm_trade_entry``): no increase passes the cap while REDUCING."""
        if not self._cap_on():
            return stake
        return self.cap_adapter.gate_position_increase(pair, stake, entry_tag)

    def _cap_trim(self, trade: Trade, current_time: datetime) -> tuple[float, str] | None:
        return self.cap_adapter.trims.trim(trade, current_time) if self._cap_on() else None

    def _cap_order_filled(self, pair: str, order: Order, current_time: datetime) -> None:
        if self._cap_on():
            self.cap_adapter.order_filled(pair, order, current_time)

    def _cap_cancels_entry(self, **kwargs: Any) -> bool:
        """REDUCING cancels open entry orders through freqtrade's own ``check_entry_timeout``
        path (``trim_settlement.cancel_entry_while_reducing``)."""
        if not self._cap_on():
            return False
        return self.cap_adapter.trims.cancels_entry(kwargs["pair"], kwargs["order"],
                                                    kwargs["trade"])

    def _cap_trim_timed_out(self, **kwargs: Any) -> bool:
        if not self._cap_on():
            return False
        return self.cap_adapter.trims.timed_out(kwargs["pair"], kwargs["order"],
                                                kwargs["current_time"])
