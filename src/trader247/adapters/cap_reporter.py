"""Chat and metrics of the cap (dry-run and live only; backtests report nothing).

Every cap decision the operator must see (``trader247.core.cap_notices``: an entry clamped or
refused, the global lock placed / re-created / lifted, a fallback mark, the REDUCING state
change, a trim round) is logged at INFO / WARNING with its word and sent through freqtrade's
``dp.send_msg`` (``strategy_msg``: Telegram, webhooks with ``allow_custom_messages``; FreqUI shows
the log lines on its Logs page). Chat is rate-limited per kind
(:class:`~trader247.core.messages.MessageGate`); repeats of one decision per pair are held back
for the rest of its episode (:class:`~trader247.core.cap_notices.EpisodeThrottle`), except an
operator's ``/forceenter``, which is answered every time. Metrics go to the bot's runtime
(``trader247.adapters.observability``), which is a no-op without a running exporter.

Entries are decided in freqtrade's REST thread too (``/forceenter``): one lock guards the gate,
the throttle and the send queue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trader247.adapters.cap_controller import CapController, CapEvents
from trader247.adapters.cap_fleet import CapFleet
from trader247.core import cap_notices, messages
from trader247.core.cap_notices import EntryRequest, MarkSource, Notice
from trader247.core.exposure import CapState, EntryDecision, Exposure, Snapshot

logger = logging.getLogger(__name__)
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING}

REALISED_REFRESH_SECONDS = 60.0


@dataclass
class CapReporter:
    """``send(text)`` posts a chat message; ``closed_profit()`` sums closed trades' profit
    (freqtrade's ``Trade.get_total_closed_profit``); ``runtime`` records metrics."""

    send: Callable[[str], None]
    closed_profit: Callable[[], float]
    runtime: Any
    gate: messages.MessageGate = field(default_factory=messages.MessageGate)
    episodes: cap_notices.EpisodeThrottle = field(default_factory=cap_notices.EpisodeThrottle)
    clock: Callable[[], float] = time.monotonic  # the gate's and the throttle's time
    _seen_universe: Any = None
    _realised: tuple[float, float] | None = None
    _stale_marks: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ notices
    def notify(self, notice: Notice, *, throttled: bool = False) -> None:
        """Log ``notice`` and offer it to the chat. ``throttled``: at most once per word and pair
        per episode; a repeat is logged at DEBUG only (and counted by the throttle)."""
        with self._lock:
            now = self.clock()
            if throttled and notice.pair is not None and not self.episodes.allow(
                    notice.word, notice.pair, now):
                logger.debug("%s", notice.log)
                return
            logger.log(_LEVELS[notice.level], "%s", notice.log)
            text = self.gate.offer(notice.kind, notice.text, now)
        if text:
            self.send(text)

    def entry(self, request: EntryRequest, decision: EntryDecision,
              exposure: Exposure | None, stake_currency: str) -> None:
        """One decision of the entry gate. A strategy's repeated signal is told once per episode;
        an operator's ``/forceenter`` every time."""
        notice = cap_notices.entry_notice(request, decision, exposure,
                                          stake_currency=stake_currency)
        if notice is None:
            if decision.allowed:
                with self._lock:
                    self.episodes.end(request.pair)  # granted: a later refusal is news again
            return
        self.notify(notice, throttled=not request.forced)

    def marks(self, fallbacks: Mapping[str, tuple[MarkSource, float]]) -> None:
        """Positions valued at a fallback price this iteration: told once per pair until its
        mark is current again."""
        with self._lock:
            for pair in self._stale_marks - set(fallbacks):
                self.episodes.end(pair)
            self._stale_marks = set(fallbacks)
        for pair, (source, price) in sorted(fallbacks.items()):
            self.notify(cap_notices.mark_notice(pair, source, price), throttled=True)

    def report(self, controller: CapController, events: CapEvents, snapshot: Snapshot,
               open_stake: float, now: float, plans: bool = True) -> None:
        """``plans``: this bot executes the controller's plan (False: a fleet follower, whose
        plan is the leader's business, announces no trim round)."""
        with self._lock:
            texts = self._chat(controller, events, self.clock(), plans)
        for text in texts:
            if text:
                self.send(text)
        self.runtime.record_cap(controller)
        if self.runtime.active() is not None:
            held = sum(p.value for p in snapshot.positions)
            self.runtime.record_pnl(self.realised_profit(now), held - open_stake,
                                    len(snapshot.positions))

    def report_fleet(self, fleet: CapFleet, controller: CapController) -> None:
        """The fleet's gauges; the controller measured the account (``CapAdapter.loop``)."""
        if controller.last_exposure is not None:
            self.runtime.record_fleet(fleet.store.policy.name, fleet.bot,
                                      controller.last_exposure.at_risk_pct, fleet.members,
                                      fleet.reservations, fleet.is_leader, fleet.available)

    def _chat(self, controller: CapController, events: CapEvents,
              now: float, plans: bool) -> Sequence[str | None]:
        exposure, currency = controller.last_exposure, controller.stake_currency
        texts: list[str | None] = []
        if exposure is not None and events.state_changed:
            previous = (CapState.ACTIVE if events.state is CapState.REDUCING
                        else CapState.REDUCING)
            self.episodes.new_episode()  # refusals and marks are news again
            level = logging.WARNING if events.state is CapState.REDUCING else logging.INFO
            logger.log(level, "%s", cap_notices.state_log_line(previous, events.state, exposure))
            trimming = (controller.policy.trims_enabled
                        and not controller.trim_state.startup_hold)
            texts.append(self.gate.offer("state", messages.format_state_change(
                previous, events.state, exposure, stake_currency=currency,
                plan_line=events.plan_line, trimming=trimming), now))
        plan = controller.last_plan
        if plans and plan is not None and plan.orders and exposure is not None:
            texts.append(self.gate.offer("trims", messages.format_trim_round(
                plan.orders, exposure, stake_currency=currency, cycle=controller.cycle), now))
        result = self.runtime.latest_universe()
        if result is not None and result is not self._seen_universe:
            before, self._seen_universe = self._seen_universe, result
            if before is not None:
                text = messages.format_universe_changes(
                    messages.universe_changes(before.whitelist, result), result)
                texts.append(self.gate.offer("universe", text, now) if text else None)
        return texts + list(self.gate.flush(now))

    def realised_profit(self, now: float) -> float:
        """Closed profit, summed again only after a fill (:meth:`fill_seen`) or once a minute:
        the aggregate query was a third of the loop hook's time on a 10-trade bot."""
        if self._realised is None or now - self._realised[1] >= REALISED_REFRESH_SECONDS:
            self._realised = (float(self.closed_profit()), now)
        return self._realised[0]

    def fill_seen(self) -> None:
        self._realised = None  # an exit fill realises profit
