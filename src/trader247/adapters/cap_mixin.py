"""``ExposureCapMixin``: the at-risk cap for any freqtrade strategy.

Usage (the mixin must come before ``IStrategy``)::

    from freqtrade.strategy import IStrategy
    from trader247.strategy import ExposureCapMixin

    class MyStrategy(ExposureCapMixin, IStrategy):
        position_adjustment_enable = True   # trims are partial exits through adjust_trade_position
        ...

What it does, per bot iteration (per candle in backtesting):
- ``bot_loop_start`` measures exposure once (``trader247.core.exposure.measure``: open positions
  at mark + remaining stake of open entry orders, over stake-currency balance + positions), moves
  the ACTIVE / REDUCING state, sets or lifts the global ``EXPOSURE_OVER_CAP`` lock (visible in
  ``/locks``, FreqUI and Telegram), and plans at most one trim round every
  ``trim_interval_cycles`` iterations;
- ``custom_stake_amount`` clamps every entry to the headroom under the cap (REDUCING: no entry);
- ``confirm_trade_entry`` refuses entries while REDUCING, for pairs in trim cooldown and (dry-run
  / live) when the pair's newest analyzed candle is not the newest closed one (``stale_data``);
- ``adjust_trade_position`` places this round's trim for the trade as a partial exit tagged
  ``trim``; a positive adjustment (DCA) from the strategy is clamped like an entry;
- ``order_filled`` / ``check_exit_timeout`` record trim fills (latency) and cancel a trim that
  has not filled after ``trim_timeout_seconds``; it is re-planned in a later round.

A subclass may define any of these hooks itself: ``__init_subclass__`` wraps the subclass's own
method so the cap still applies to its result (a strategy's sizing is clamped, its DCA is gated,
its ``confirm_trade_entry`` is and-ed with ours). Nothing else of the strategy is touched.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from freqtrade.enums import RunMode
from freqtrade.persistence import Order, PairLocks, Trade
from freqtrade.persistence.pairlock import PairLock

from trader247.adapters import observability, price_tape, protection_link, universe_status
from trader247.adapters.backtest_marks import BacktestMarks, freqtrade_candles
from trader247.adapters.cap_controller import TRIM_TAG, CapController, stake_to_return
from trader247.adapters.cap_persistence import CapStatePersistence
from trader247.adapters.settings import Settings, load_settings
from trader247.adapters.state_store import StateStore, heal_shared_session
from trader247.adapters.trade_reconcile import reconcile_open_trades
from trader247.core.exposure import CapState, Position, Snapshot, measure
from trader247.core.freshness import judge_freshness
from trader247.patches import execute_entry_gate, hyperopt_pickling, idempotent_create

logger = logging.getLogger(__name__)

_CAP_RUNMODES = (RunMode.DRY_RUN, RunMode.LIVE, RunMode.BACKTEST, RunMode.HYPEROPT)
LOCK_PREFIX = "EXPOSURE_OVER_CAP"
FORCE_ENTRY_TAG = "force_entry"  # freqtrade's tag for /forceenter and Telegram /forcelong
_LOCK_SPAN = timedelta(hours=24)
REALISED_REFRESH_SECONDS = 60.0


def _wrap_stake(user: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(user)
    def custom_stake_amount(self: ExposureCapMixin, *args: Any, **kwargs: Any) -> float:
        return self._cap_clamp_stake(float(user(self, *args, **kwargs) or 0.0), **kwargs)

    return custom_stake_amount


def _wrap_confirm(user: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(user)
    def confirm_trade_entry(self: ExposureCapMixin, *args: Any, **kwargs: Any) -> bool:
        allowed = self._cap_allows_entry(kwargs.get("pair", ""), kwargs.get("current_time"),
                                         kwargs.get("entry_tag"))
        return allowed and bool(user(self, *args, **kwargs))

    return confirm_trade_entry


def _wrap_adjust(user: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(user)
    def adjust_trade_position(self: ExposureCapMixin, *args: Any, **kwargs: Any) -> Any:
        trim = self._cap_trim(kwargs["trade"], kwargs["current_time"])
        if trim is not None:
            return trim
        return self._cap_gate_adjustment(user(self, *args, **kwargs), **kwargs)

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


_WRAPPERS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "custom_stake_amount": _wrap_stake,
    "confirm_trade_entry": _wrap_confirm,
    "adjust_trade_position": _wrap_adjust,
    "bot_loop_start": _wrap_loop,
    "order_filled": _wrap_filled,
    "check_exit_timeout": _wrap_exit_timeout,
}


class ExposureCapMixin:
    """At-risk cap for any ``IStrategy``; see the module docstring."""

    position_adjustment_enable = True
    config: dict[str, Any]
    dp: Any
    wallets: Any
    timeframe: str
    stoploss: float

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, wrap in _WRAPPERS.items():
            own = cls.__dict__.get(name)
            if own is not None and not getattr(own, "_trader247_wrapped", False):
                wrapped = observability.timed(name)(wrap(own))
                wrapped._trader247_wrapped = True  # type: ignore[attr-defined]
                setattr(cls, name, wrapped)
        declared = cls.__dict__.get("protections")
        if declared is not None and not getattr(
                getattr(declared, "fget", None), "_trader247_linked", False):
            getter: Callable[[Any], Any] = (
                declared.fget if isinstance(declared, property) and declared.fget is not None
                else (lambda _self: declared))
            cls.protections = protection_link.linking(getter)  # type: ignore[assignment]

    @property
    def protections(self) -> list[Any]:
        """The strategy's protections, with ``ExposureCap`` linked to this strategy's cap."""
        return protection_link.link(super().protections, self.cap)  # type: ignore[misc]

    # Defaults used when the strategy does not define the hook itself.
    @observability.timed("custom_stake_amount")
    def custom_stake_amount(self, *, proposed_stake: float, **kwargs: Any) -> float:
        return self._cap_clamp_stake(proposed_stake, proposed_stake=proposed_stake, **kwargs)

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
    def order_filled(self, *, pair: str, order: Order, current_time: datetime, **kwargs: Any) -> None:
        self._cap_order_filled(pair, order, current_time)

    @observability.timed("check_exit_timeout")
    def check_exit_timeout(self, **kwargs: Any) -> bool:
        return self._cap_trim_timed_out(**kwargs)

    # ------------------------------------------------------------------ plumbing
    @property
    def trader247_settings(self) -> Settings:
        """Our YAML files for this strategy, loaded once (on first use: ``ft_bot_start``)."""
        settings: Settings | None = self.__dict__.get("_trader247_settings")
        if settings is None:
            settings = self.__dict__["_trader247_settings"] = load_settings(self.config)
        return settings

    @property
    def cap(self) -> CapController:
        controller: CapController | None = self.__dict__.get("_cap_controller")
        if controller is None:
            controller = CapController(
                policy=self.trader247_settings.cap_policy,
                stake_currency=self.config["stake_currency"],
                cycle_seconds=self._cap_cycle_seconds(),
            )
            self.__dict__["_cap_controller"] = controller
            if self._cap_persistent():
                self._cap_restore(controller)
                controller.on_change = self._cap_persist
        return controller

    def _cap_persistent(self) -> bool:
        return self.config.get("runmode") in (RunMode.DRY_RUN, RunMode.LIVE)

    def _cap_state_store(self) -> CapStatePersistence:
        persistence: CapStatePersistence | None = self.__dict__.get("_cap_persistence")
        if persistence is None:
            persistence = self.__dict__["_cap_persistence"] = CapStatePersistence(
                StateStore.of_freqtrade())
        return persistence

    def _cap_restore(self, controller: CapController) -> None:
        self._cap_state_store().restore_and_settle(controller)

    def _cap_persist(self) -> bool:
        """Write-ahead: called before a trim order is handed to freqtrade (and on every other
        change), so a kill -9 at any moment restarts with that trim known."""
        return self._cap_state_store().persist(self.cap)

    def _cap_persist_on_shutdown(self) -> bool:
        """A SIGTERM raises KeyboardInterrupt wherever the bot is, also inside a flush of
        freqtrade's shared session, which then refuses every statement ("rolled back due to a
        previous exception") and makes freqtrade's own final commit fail. That interrupted
        write was never committed, so rolling it back loses nothing that was on disk. Our
        state goes through a connection of its own (state_store) either way."""
        heal_shared_session()
        return self._cap_persist()

    def ft_bot_start(self, **kwargs: Any) -> None:
        """Validate our YAML and build the controller before the first iteration, so a bad file
        stops ``freqtrade trade`` at start with exit code 2 (not mid-run); reconcile open trades
        with their orders (``trade_reconcile``) and restore the cap state."""
        if self._cap_persistent():
            # First: freqtrade's ft_bot_start already reads every attribute (hyperopt parameter
            # discovery), our ``protections`` and ``cap`` included, which restores the cap.
            reconcile_open_trades(Trade.get_open_trades())
        super().ft_bot_start(**kwargs)  # type: ignore[misc]
        _ = self.cap
        if self._cap_persistent():  # freqtrade's bot (dry-run / live), not a backtest
            execute_entry_gate.install()
            exchange = getattr(self.dp, "_exchange", None)
            if exchange is not None:
                idempotent_create.install(exchange)  # live only
        elif self.config.get("runmode") == RunMode.HYPEROPT:
            hyperopt_pickling.install()  # -j > 1: workers import trader247 by name
        settings = self.trader247_settings
        observability.start(self.config, settings.policy, settings.universe.tier_names)

    def ft_bot_cleanup(self) -> None:
        """Freqtrade's own shutdown path (SIGTERM / SIGINT): persist our state last."""
        controller = self.__dict__.get("_cap_controller")
        if controller is not None and self._cap_persistent():
            try:
                if self._cap_persist_on_shutdown():
                    logger.info("cap state persisted on shutdown")
                else:
                    logger.warning("cap state not persisted on shutdown (see above)")
            except Exception as exc:  # the database may already be gone during shutdown
                logger.warning("cap state not persisted on shutdown: %s", exc)
        super().ft_bot_cleanup()  # type: ignore[misc]

    def _cap_cycle_seconds(self) -> float:
        from freqtrade.exchange import timeframe_to_seconds

        if self._cap_backtesting():
            return float(timeframe_to_seconds(self.timeframe))
        return float(self.config.get("internals", {}).get("process_throttle_secs", 5))

    def _cap_backtesting(self) -> bool:
        return self.config.get("runmode") in (RunMode.BACKTEST, RunMode.HYPEROPT)

    def _cap_mark(self, trade: Trade, now: datetime | None) -> float:
        if self._cap_backtesting() and now is not None:
            return self._cap_backtest_mark(trade, now)
        # One ticker request per pair per iteration: the entry gate reuses the loop's marks.
        cycle, marks = self.__dict__.get("_cap_live_marks", (None, {}))
        if cycle != self.cap.cycle:
            marks = {}
            self.__dict__["_cap_live_marks"] = (self.cap.cycle, marks)
        if trade.pair not in marks:
            marks[trade.pair] = self._cap_live_mark(trade)
        return float(marks[trade.pair])

    def _cap_live_mark(self, trade: Trade) -> float:
        tape = self._cap_price_tape()
        if tape is not None:
            recent = tape.price(trade.pair, self.__dict__.get("_cap_previous_loop", float("inf")))
            if recent is not None:
                return recent
        try:
            ticker = self.dp.ticker(trade.pair)
            if ticker and ticker.get("last"):
                return float(ticker["last"])
        except Exception as exc:  # a ticker fault must not stop the loop: fall back to candles
            logger.debug("ticker for %s unavailable: %s", trade.pair, exc)
        frame, _ = self.dp.get_analyzed_dataframe(trade.pair, self.timeframe)
        if len(frame):
            return float(frame["close"].iat[-1])
        return float(trade.open_rate)

    def _cap_begin_iteration(self) -> None:
        """Prices that arrived since the previous iteration began are fresh enough to mark."""
        started = price_tape.clock()
        self.__dict__["_cap_previous_loop"] = self.__dict__.get("_cap_loop_started", started)
        self.__dict__["_cap_loop_started"] = started

    def _cap_snapshot_at_current_prices(self, now: datetime, open_trades: list[Trade]) -> Snapshot:
        self.__dict__["_cap_previous_loop"] = float("inf")  # no reuse for the rest of it
        self.__dict__.pop("_cap_live_marks", None)
        return self._cap_snapshot(now, open_trades)

    def _cap_price_tape(self) -> price_tape.PriceTape | None:
        if "_cap_tape" not in self.__dict__:
            exchange = getattr(self.dp, "_exchange", None)
            self.__dict__["_cap_tape"] = (price_tape.PriceTape.install(exchange)
                                          if exchange is not None else None)
        tape: price_tape.PriceTape | None = self.__dict__["_cap_tape"]
        return tape

    def advise_all_indicators(self, data: dict[str, Any]) -> dict[str, Any]:
        """Backtests and hyperopt hand every pair's whole frame here before the loop: the
        cap's marks are indexed from exactly those candles (``backtest_marks``)."""
        marks = self._cap_marks()
        for pair, frame in data.items():
            marks.preload(pair, frame)
        result: dict[str, Any] = super().advise_all_indicators(data)  # type: ignore[misc]
        return result

    def _cap_marks(self) -> BacktestMarks:
        marks: BacktestMarks | None = self.__dict__.get("_cap_backtest_marks")
        if marks is None:
            from freqtrade.exchange import timeframe_to_seconds

            marks = self.__dict__["_cap_backtest_marks"] = BacktestMarks(
                self._cap_candle_source(), timeframe_to_seconds(self.timeframe))
        return marks

    def _cap_backtest_mark(self, trade: Trade, now: datetime) -> float:
        """Close of the newest candle closed at ``now`` (``trader247.core.marks``): see
        :mod:`trader247.adapters.backtest_marks` for why the unsliced history is searched."""
        return self._cap_marks().price(trade.pair, now, float(trade.open_rate))

    def _cap_candle_source(self) -> Callable[[str], Any]:
        return freqtrade_candles(self.config, self.timeframe)

    def _cap_new_backtest_run(self, now: datetime) -> None:
        """Hyperopt epochs (and FreqUI's backtests) run the same strategy object again from the
        first candle: a loop time earlier than the last one starts a fresh cap."""
        last: datetime | None = self.__dict__.get("_cap_backtest_time")
        self.__dict__["_cap_backtest_time"] = now
        if last is None or now > last:
            return
        self.cap.reset()  # the marks stay: the same candles (advise_all_indicators renews them)
        for key in ("_cap_locked_until", "_cap_lock_checked"):
            self.__dict__.pop(key, None)

    @staticmethod
    def _cap_open_trades() -> list[Trade]:
        """The iteration's one open-trades query: the snapshot, a re-mark and the report share it."""
        trades: list[Trade] = Trade.get_open_trades()
        return trades

    def _cap_snapshot(self, now: datetime | None = None,
                      open_trades: list[Trade] | None = None) -> Snapshot:
        positions = []
        for trade in self._cap_open_trades() if open_trades is None else open_trades:
            filled = float(trade.amount) if trade.nr_of_successful_entries > 0 else 0.0
            open_entry = sum(
                (o.safe_remaining * o.safe_price)
                for o in trade.open_orders
                if o.ft_order_side == trade.entry_side
            )
            positions.append(Position(trade.pair, filled, self._cap_mark(trade, now), open_entry))
        stake = self.config["stake_currency"]
        balance = float(self.wallets.get_total(stake)) if self.wallets else 0.0
        external = 0.0
        if self.cap.policy.count_external_holdings and self.wallets:
            external = self._cap_external_value({p.pair.split("/")[0] for p in positions})
        return Snapshot(stake_balance=balance, positions=tuple(positions),
                        external_holdings_value=external)

    def _cap_external_value(self, bot_bases: set[str]) -> float:
        """Wallet holdings the bot did not open, valued at their ``<asset>/<stake>`` ticker."""
        stake = self.config["stake_currency"]
        value = 0.0
        for asset, balance in self.wallets.get_all_balances().items():
            if asset in (stake, *bot_bases) or not balance.total:
                continue
            ticker = self.dp.ticker(f"{asset}/{stake}") if not self._cap_backtesting() else None
            if ticker and ticker.get("last"):
                value += float(balance.total) * float(ticker["last"])
        return value

    def _cap_min_stakes(self, snapshot: Snapshot) -> dict[str, float]:
        exchange = getattr(self.dp, "_exchange", None)
        result: dict[str, float] = {}
        for position in snapshot.positions:
            minimum = None
            if exchange is not None:
                minimum = exchange.get_min_pair_stake_amount(
                    position.pair, position.mark_price, self.stoploss)
            result[position.pair] = float(minimum or 0.0)
        return result

    def _cap_loop(self, current_time: datetime) -> None:
        # plot-dataframe and the analysis commands call bot_loop_start without trades or a
        # database: there is no exposure to measure there.
        if self.config.get("runmode") not in _CAP_RUNMODES:
            return
        if self._cap_backtesting():
            self._cap_new_backtest_run(current_time)
        else:
            self._cap_begin_iteration()
        open_trades = self._cap_open_trades()
        snapshot = self._cap_snapshot(current_time, open_trades)
        # Minimum stakes matter only to a trim; under the cap the lookups are skipped.
        needs_minimums = self.cap.state is CapState.REDUCING or measure(
            snapshot, self.cap.policy).over_cap
        if needs_minimums and not self._cap_backtesting():
            # A trim sells the base amount its value makes at the mark: a mark one iteration
            # old over-sells in a rally (the restart soak saw $33.90 sold of $30.15 planned).
            snapshot = self._cap_snapshot_at_current_prices(current_time, open_trades)
        events = self.cap.evaluate(
            snapshot, self._cap_min_stakes(snapshot) if needs_minimums else 0.0,
            current_time.timestamp())
        if events.plan_line:
            logger.warning(events.plan_line)
        self._cap_sync_lock(events.lock_reason, current_time)
        plan = self.cap.last_plan
        if plan is not None and plan.orders:
            logger.info("%s cycle=%d pairs=%s", plan.summary, self.cap.cycle,
                        ",".join(order.pair for order in plan.orders))
        if not self._cap_backtesting():
            self._cap_report(events, snapshot, open_trades, current_time)

    def _cap_report(self, events: Any, snapshot: Snapshot, open_trades: list[Trade],
                    now: datetime) -> None:
        """Chat (rate-limited per kind) and metrics; dry-run and live only."""
        from trader247.core import messages

        controller = self.cap
        exposure = controller.last_exposure
        gate: messages.MessageGate = self.__dict__.setdefault("_cap_gate", messages.MessageGate())
        stamp = now.timestamp()
        texts: list[str | None] = []
        if exposure is not None and events.state_changed:
            previous = (CapState.ACTIVE if events.state is CapState.REDUCING
                        else CapState.REDUCING)
            texts.append(gate.offer("state", messages.format_state_change(
                previous, events.state, exposure, stake_currency=controller.stake_currency,
                plan_line=events.plan_line), stamp))
        plan = controller.last_plan
        if plan is not None and plan.orders and exposure is not None:
            texts.append(gate.offer("trims", messages.format_trim_round(
                plan.orders, exposure, stake_currency=controller.stake_currency,
                cycle=controller.cycle), stamp))
        result = universe_status.latest()
        if result is not None and result is not self.__dict__.get("_cap_seen_universe"):
            before = self.__dict__.get("_cap_seen_universe")
            self.__dict__["_cap_seen_universe"] = result
            if before is not None:
                text = messages.format_universe_changes(
                    messages.universe_changes(before.whitelist, result), result)
                texts.append(gate.offer("universe", text, stamp) if text else None)
        texts += gate.flush(stamp)
        for text in texts:
            if text:
                self.dp.send_msg(text, always_send=True)
        observability.record_cap(controller)
        if observability.active() is not None:
            held = sum(p.value for p in snapshot.positions)
            cost = sum(float(t.stake_amount) for t in open_trades)
            observability.record_pnl(self._cap_realised_profit(stamp), held - cost,
                                     len(snapshot.positions))

    def _cap_realised_profit(self, now: float) -> float:
        """Closed profit, summed again only after a fill (``order_filled``) or once a minute: the
        aggregate query was a third of this hook's time on a 10-trade bot."""
        cached: tuple[float, float] | None = self.__dict__.get("_cap_realised")
        if cached is None or now - cached[1] >= REALISED_REFRESH_SECONDS:
            cached = self.__dict__["_cap_realised"] = (
                float(Trade.get_total_closed_profit()), now)
        return cached[0]

    def _cap_sync_lock(self, reason: str | None, now: datetime) -> None:
        """One global lock per REDUCING episode; lifted as soon as the state is ACTIVE again.

        The lock store is read only when the state may differ from what we last set (first
        iteration, a state change, a lock about to expire), which keeps the per-candle cost of
        backtests flat.
        """
        locked_until: datetime | None = self.__dict__.get("_cap_locked_until")
        checked = self.__dict__.get("_cap_lock_checked", False)
        if checked and (reason is None) == (locked_until is None) and (
            locked_until is None or locked_until - now > timedelta(hours=1)
        ):
            return
        self.__dict__["_cap_lock_checked"] = True
        ours = [lock for lock in PairLocks.get_pair_locks("*", now)
                if (lock.reason or "").startswith(LOCK_PREFIX)]
        if reason is None:
            # Deactivate the rows themselves: in backtesting freqtrade's unlock_reason compares
            # lock ends with the wall clock, not the candle time, and would miss them. The end
            # is moved to now, so the lock's span is the REDUCING episode (a backtest result's
            # locks show exactly when entries were blocked).
            for lock in ours:
                lock.active = False
                lock.lock_end_time = now
            if ours:
                if PairLocks.use_db:
                    PairLock.session.commit()
                logger.info("exposure back under target: entries resume (lock lifted)")
            self.__dict__["_cap_locked_until"] = None
            return
        until = now + _LOCK_SPAN
        PairLocks.lock_pair("*", until, reason, now=now)
        self.__dict__["_cap_locked_until"] = until
        if not ours:
            logger.warning("%s: entries blocked until exposure is back under target", reason)

    def _cap_clamp_stake(self, stake: float, **kwargs: Any) -> float:
        decision = self.cap.gate_entry(
            kwargs.get("pair", ""), stake, self._cap_snapshot(kwargs.get("current_time")),
            min_stake=kwargs.get("min_stake"), max_stake=float(kwargs.get("max_stake", stake)))
        if decision.stake is None:
            logger.debug("entry skipped: %s", decision.reason)
            return 0.0
        return float(decision.stake)

    def _cap_gate_position_increase(self, pair: str, stake: float) -> float:
        """Clamp an increase of a held position like an entry.

        freqtrade's ``/forceenter`` (Telegram ``/forcelong``) on a pair already held is a position
        adjustment that reaches neither ``custom_stake_amount`` nor ``confirm_trade_entry``:
        ``trader247.patches.execute_entry_gate`` calls this for every adjustment, so no increase
        passes the cap while REDUCING (a strategy's own DCA, already clamped in
        ``adjust_trade_position``, is clamped to the same headroom again: a no-op).
        """
        if self.config.get("runmode") not in _CAP_RUNMODES:
            return stake
        allowed = self._cap_clamp_stake(stake, pair=pair, current_time=datetime.now(UTC))
        if allowed < stake:
            logger.warning("ENTRY_REFUSED exposure_cap: increase of %s by %.2f %s %s (state %s)",
                           pair, stake, self.config["stake_currency"],
                           f"clamped to {allowed:.2f}" if allowed else "refused",
                           self.cap.state.value)
        return allowed

    def _cap_allows_entry(self, pair: str, now: datetime | None = None,
                          entry_tag: str | None = None) -> bool:
        if self.cap.state is CapState.REDUCING:
            return False
        from trader247.core.trims import in_cooldown

        if in_cooldown(self.cap.trim_state, pair, self.cap.cycle):
            return False
        if entry_tag == FORCE_ENTRY_TAG:
            return True
        return self._candles_fresh(pair, now or datetime.now(UTC))

    def _candles_fresh(self, pair: str, now: datetime) -> bool:
        """The stale-candle guard (``stale_data`` in policy.yaml), dry-run and live only: in
        backtesting candles are complete by construction.

        It judges the candles the strategy analyzed. A pair without any (outside the whitelist,
        or before the first iteration) cannot carry a signal: freqtrade needs candles for one.
        Force entries (tag ``force_entry``, freqtrade's default) are a human's call and pass.
        """
        if not self._cap_persistent():
            return True
        guard = self.trader247_settings.policy.stale_data
        if not guard.block_entries:
            return True
        frame, _ = self.dp.get_analyzed_dataframe(pair, self.timeframe)
        if not len(frame):
            return True
        from freqtrade.exchange import timeframe_to_prev_date, timeframe_to_seconds

        newest = frame["date"].iat[-1].timestamp()
        current_open = timeframe_to_prev_date(self.timeframe, now)
        # The candle before the one in progress; computed by freqtrade so 1w / 1M align.
        expected = timeframe_to_prev_date(self.timeframe, current_open - timedelta(seconds=1))
        decision = judge_freshness(newest, expected.timestamp(),
                                   timeframe_to_seconds(self.timeframe), guard.max_missing_candles)
        if decision.allows_entry:
            return True
        # One line per pair and newest candle: a frozen feed is refused every iteration.
        reported: dict[str, float] = self.__dict__.setdefault("_stale_reported", {})
        if reported.get(pair) != newest:
            reported[pair] = newest
            logger.warning(
                "ENTRY_REFUSED %s: %s newest candle %s, expected %s (%d missing, allowed %d)",
                decision.freshness.value, pair, datetime.fromtimestamp(newest, UTC).isoformat(),
                expected.isoformat(), decision.missing_candles, guard.max_missing_candles)
        return False

    def _cap_trim(self, trade: Trade, current_time: datetime) -> tuple[float, str] | None:
        order = self.cap.trim_for(trade.pair)
        if order is None:
            return None
        if trade.has_open_orders:
            return None  # freqtrade would refuse it anyway; the next round re-plans this pair
        if not self.cap.trim_placed(order, current_time.timestamp()):
            logger.warning("TRIM_SKIPPED: pair=%s reason=state_not_persisted (re-planned in a "
                           "later round)", trade.pair)
            return None
        return stake_to_return(order, float(trade.stake_amount), float(trade.amount)), TRIM_TAG

    def _cap_gate_adjustment(self, result: Any, **kwargs: Any) -> Any:
        stake, tag = (result[0], result[1] if len(result) > 1 else None) if isinstance(
            result, tuple) else (result, None)
        if stake is None or stake <= 0:
            return result
        clamped = self._cap_clamp_stake(float(stake), **kwargs)
        return (clamped or None, tag) if tag is not None else (clamped or None)

    def _cap_order_filled(self, pair: str, order: Order, current_time: datetime) -> None:
        self.__dict__.pop("_cap_realised", None)  # an exit fill realises profit
        if order.ft_order_tag == TRIM_TAG:
            latency = self.cap.trim_filled(pair, current_time.timestamp())
            if latency is not None:
                logger.info("trim filled: pair=%s latency=%.1fs", pair, latency)
                observability.record_trim_latency(latency)

    def _cap_trim_timed_out(self, **kwargs: Any) -> bool:
        """A trim order older than ``trim_timeout_seconds`` is cancelled, whatever the trim state
        says: the planner may already have expired it (and counted it failed) this iteration."""
        order: Order = kwargs["order"]
        if order.ft_order_tag != TRIM_TAG:
            return False
        now: datetime = kwargs["current_time"]
        age = now.timestamp() - order.order_date_utc.timestamp()
        if age <= self.cap.policy.trim_timeout_seconds:
            return False
        pair = kwargs["pair"]
        logger.warning("trim timed out: pair=%s after %.0fs, cancelling and re-planning", pair, age)
        if pair in self.cap.trim_state.open_trims:
            self.cap.trim_cancelled(pair)
        return True
