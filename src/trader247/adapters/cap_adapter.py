"""``CapAdapter``: everything the at-risk cap does for one strategy, with its parts declared.

``ExposureCapMixin`` forwards freqtrade's hooks here and does nothing else. The adapter is built
once per strategy object (``trader247.adapters.cap_build``, called from ``ft_bot_start``) from
parts that are passed in, each small and replaceable by a fake in tests:

- ``controller``: the cap state and the round's trims (``cap_controller``; no freqtrade);
- ``exposure``: the snapshot of trades, orders and wallet (``cap_exposure``) over ``marks``
  (live tape or backtest candles, ``cap_marks``);
- ``open_trades``: freqtrade's open trades (``Trade.get_open_trades``);
- ``locks``: the ``EXPOSURE_OVER_CAP`` lock (``cap_locks``);
- ``trims``: trim execution, fills and time-outs (``cap_trims``);
- ``freshness``: the stale-candle guard, None where it does not apply (``cap_freshness``);
- ``reporter``: chat and metrics, None in backtesting (``cap_reporter``);
- ``persistence``: the state in the database, None outside dry-run / live (``cap_persistence``);
- ``min_stakes``: each position's exchange minimum stake, for trims;
- ``increase_min_stake``: the exchange minimum of one more order on a held pair (as freqtrade
  computes it for a position adjustment), for ``/forceenter`` increases;
- ``fleet``: this bot as a member of a fleet sharing one cap (``cap_fleet``), None unless
  ``fleet.enabled`` in dry-run / live: the loop then measures the ACCOUNT and entries reserve
  their headroom in the fleet's database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trader247.adapters.cap_controller import CapController
from trader247.adapters.cap_exposure import ExposureReader
from trader247.adapters.cap_fleet import CapFleet
from trader247.adapters.cap_freshness import CandleFreshness
from trader247.adapters.cap_locks import LockSync
from trader247.adapters.cap_marks import MarkSource
from trader247.adapters.cap_persistence import CapStatePersistence
from trader247.adapters.cap_reporter import CapReporter
from trader247.adapters.cap_trims import TrimExecutor
from trader247.adapters.settings import Settings
from trader247.core import cap_notices
from trader247.core.cap_notices import EntryRequest, Notice
from trader247.core.exposure import CapState, EntryDecision, Exposure, Snapshot, measure
from trader247.core.trims import in_cooldown

logger = logging.getLogger(__name__)

FORCE_ENTRY_TAG = "force_entry"  # freqtrade's tag for /forceenter and Telegram /forcelong
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING}


def _no_minimum(_pair: str, _price: float) -> float | None:
    return None


@dataclass
class CapAdapter:
    settings: Settings
    controller: CapController
    backtesting: bool
    exposure: ExposureReader
    marks: MarkSource
    open_trades: Callable[[], list[Any]]
    locks: LockSync
    trims: TrimExecutor
    min_stakes: Callable[[Snapshot], dict[str, float]]
    freshness: CandleFreshness | None = None
    reporter: CapReporter | None = None
    persistence: CapStatePersistence | None = None
    fleet: CapFleet | None = None
    increase_min_stake: Callable[[str, float], float | None] = _no_minimum
    _backtest_time: datetime | None = None

    # ------------------------------------------------------------------ the loop
    def loop(self, now: datetime) -> None:
        """``bot_loop_start``: measure, move the state, sync the lock, plan a trim round."""
        if self.backtesting:
            self._new_backtest_run(now)
        else:
            self.marks.begin_iteration()
        if self.fleet is not None:
            self.fleet.begin_iteration()
        open_trades = self.open_trades()
        if not self.backtesting:  # rejected trims, closed trims not yet settled (trim_settlement)
            self.trims.settle(open_trades, now)
        own = self.exposure.snapshot(open_trades, now)
        snapshot = self._measured(own)
        # Minimum stakes matter only to a trim; under the cap the lookups are skipped.
        needs_minimums = self.controller.needs_min_stakes(snapshot)  # total, cluster or asset
        if needs_minimums and not self.backtesting:
            # A trim sells the base amount its value makes at the mark: a mark one iteration
            # old over-sells in a rally (the restart soak saw $33.90 sold of $30.15 planned).
            self.marks.refresh()
            own = self.exposure.snapshot(open_trades, now)
            snapshot = self._measured(own)
        events = self.controller.evaluate(
            snapshot, self.min_stakes(snapshot) if needs_minimums else 0.0, now.timestamp())
        if self.fleet is not None:
            self.fleet.round(self.controller, now.timestamp())
        if events.plan_line:
            logger.warning(events.plan_line)
        change = self.locks.sync(events.lock_reason, now)
        if change is not None:
            self._tell(cap_notices.lock_notice(change, self.locks.reason or "",
                                               self.controller.last_exposure))
        plan = self.controller.last_plan
        # In a fleet only the leader's plan is executed (published); a follower's is not logged.
        plans = self.fleet is None or self.fleet.is_leader
        if plan is not None and plan.orders and plans:
            logger.info("%s cycle=%d pairs=%s", plan.summary, self.controller.cycle,
                        ",".join(order.pair for order in plan.orders))
        if self.reporter is not None:
            self.reporter.marks(self.marks.fallbacks())
            self.reporter.report(self.controller, events, own,
                                 sum(float(t.stake_amount) for t in open_trades), now.timestamp(),
                                 plans)
            if self.fleet is not None:
                self.reporter.report_fleet(self.fleet, self.controller)

    def _measured(self, own: Snapshot) -> Snapshot:
        """What the cap measures: this bot's snapshot, or in a fleet the account's."""
        return own if self.fleet is None else self.fleet.account(own, self.controller)

    def _new_backtest_run(self, now: datetime) -> None:
        """Hyperopt epochs (and FreqUI's backtests) run the same strategy object again from the
        first candle: a loop time earlier than the last one starts a fresh cap."""
        last, self._backtest_time = self._backtest_time, now
        if last is None or now > last:
            return
        self.controller.reset()  # the marks stay: the same candles (advise_all_indicators)
        self.locks.reset()

    # ------------------------------------------------------------------ entries
    def clamp_stake(self, stake: float, pair: str, now: datetime | None,
                    min_stake: float | None = None, max_stake: float | None = None, *,
                    entry_tag: str | None = None, held: bool = False) -> float:
        """The stake the cap allows for an entry (0: refused), told to the operator
        (``reporter.entry``). ``held``: it increases an open position."""
        own = self.exposure.snapshot(self.open_trades(), now)
        if held and min_stake is None:
            min_stake = self._increase_min_stake(pair, own)
        ceiling = float(stake if max_stake is None else max_stake)
        exposure: Exposure | None = None
        # a pair in trim cooldown is refused by this bot's gate, without asking the fleet
        by_fleet = self.fleet is not None and not in_cooldown(self.controller.trim_state, pair,
                                                              self.controller.cycle)
        if self.fleet is not None and by_fleet:
            decision, exposure = self.fleet.reserve_measured(
                pair, own, self.controller.state, self.controller, requested=stake,
                min_stake=min_stake, max_stake=ceiling)
        else:
            decision = self.controller.gate_entry(pair, stake, own, min_stake=min_stake,
                                                  max_stake=ceiling)
        if self.reporter is not None:
            if not by_fleet:
                exposure = measure(own, self.controller.policy)
            request = EntryRequest(pair, float(stake), forced=entry_tag == FORCE_ENTRY_TAG,
                                   held=held, fleet=by_fleet)
            self.reporter.entry(request, decision, exposure, self.controller.stake_currency)
        elif decision.stake is None:
            logger.debug("entry skipped: %s", decision.reason)  # backtests: one per candle
        return _stake_of(decision)

    def _increase_min_stake(self, pair: str, own: Snapshot) -> float | None:
        mark = next((p.mark_price for p in own.positions if p.pair == pair), None)
        return None if mark is None or mark <= 0 else self.increase_min_stake(pair, mark)

    def allows_entry(self, pair: str, now: datetime | None, entry_tag: str | None) -> bool:
        if self.controller.state is CapState.REDUCING:
            return False
        if in_cooldown(self.controller.trim_state, pair, self.controller.cycle):
            return False
        if entry_tag == FORCE_ENTRY_TAG or self.freshness is None:
            return True
        return self.freshness.allows(pair, now or datetime.now(UTC))

    def gate_adjustment(self, result: Any, **kwargs: Any) -> Any:
        """A strategy's positive ``adjust_trade_position`` (DCA) is clamped like an entry.
        freqtrade names the pair only through ``trade`` (there is no ``pair`` keyword)."""
        stake, tag = (result[0], result[1] if len(result) > 1 else None) if isinstance(
            result, tuple) else (result, None)
        if stake is None or stake <= 0:
            return result
        clamped = self.clamp_stake(float(stake), kwargs["trade"].pair,
                                   kwargs.get("current_time"), kwargs.get("min_stake"),
                                   kwargs.get("max_stake"), held=True)
        return (clamped or None, tag) if tag is not None else (clamped or None)

    def gate_position_increase(self, pair: str, stake: float,
                               entry_tag: str | None = None) -> float:
        """Clamp an increase of a held position (``execute_entry_gate``) like an entry; below the
        exchange minimum freqtrade would refuse it anyway (generic "Failed to enter position"),
        so the cap refuses it itself and says why."""
        return self.clamp_stake(stake, pair, datetime.now(UTC), entry_tag=entry_tag, held=True)

    # ------------------------------------------------------------------ state
    def persist(self) -> bool:
        """Write-ahead: called before a trim order is handed to freqtrade (and on every other
        change), so a kill -9 at any moment restarts with that trim known."""
        return self.persistence.persist(self.controller) if self.persistence else True

    def _tell(self, notice: Notice) -> None:
        """Dry-run / live: the reporter logs and sends it; backtests: the log line only."""
        if self.reporter is not None:
            self.reporter.notify(notice)
        else:
            logger.log(_LEVELS[notice.level], "%s", notice.log)

    def order_filled(self, pair: str, order: Any, now: datetime) -> None:
        if self.reporter is not None:
            self.reporter.fill_seen()
        self.trims.order_filled(pair, order, now)


def _stake_of(decision: EntryDecision) -> float:
    return 0.0 if decision.stake is None else float(decision.stake)
