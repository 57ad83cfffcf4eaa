"""Chat and metrics of the cap (dry-run and live only; backtests report nothing).

Chat messages are rate-limited per kind (:class:`~trader247.core.messages.MessageGate`) and go
through freqtrade's ``dp.send_msg`` (Telegram, webhooks, FreqUI). Metrics go to the bot's
runtime (``trader247.adapters.observability``), which is a no-op without a running exporter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trader247.adapters.cap_controller import CapController, CapEvents
from trader247.adapters.cap_fleet import CapFleet
from trader247.core import messages
from trader247.core.exposure import CapState, Snapshot

REALISED_REFRESH_SECONDS = 60.0


@dataclass
class CapReporter:
    """``send(text)`` posts a chat message; ``closed_profit()`` sums closed trades' profit
    (freqtrade's ``Trade.get_total_closed_profit``); ``runtime`` records metrics."""

    send: Callable[[str], None]
    closed_profit: Callable[[], float]
    runtime: Any
    gate: messages.MessageGate = field(default_factory=messages.MessageGate)
    _seen_universe: Any = None
    _realised: tuple[float, float] | None = None

    def report(self, controller: CapController, events: CapEvents, snapshot: Snapshot,
               open_stake: float, now: float, plans: bool = True) -> None:
        """``plans``: this bot executes the controller's plan (False: a fleet follower, whose
        plan is the leader's business, announces no trim round)."""
        for text in self._chat(controller, events, now, plans):
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
            texts.append(self.gate.offer("state", messages.format_state_change(
                previous, events.state, exposure, stake_currency=currency,
                plan_line=events.plan_line), now))
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
