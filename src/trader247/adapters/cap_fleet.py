"""The cap's ``fleet`` part: this bot as one member of a fleet sharing ONE at-risk cap.

Built by ``cap_build`` for dry-run / live when ``fleet.enabled`` (README "Fleet"). Per loop:

1. :meth:`CapFleet.account` reports this bot's own positions (its heartbeat, one transaction
   that also releases the reservations this report now carries) and returns the ACCOUNT as one
   snapshot (:func:`trader247.core.fleet.fleet_snapshot`, positions keyed ``bot|pair``): the
   controller measures the state, the lock and the gate on it;
2. :meth:`CapFleet.round` after the controller's evaluation: the lease holder (``lead``)
   publishes the round its ordinary planner made on the fleet snapshot (``split_round``), then
   every bot takes the trims of its own trades (``take_trims``, each row once) and hands them to
   the controller's round, which the existing trim path (``cap_trims``) executes.

Entries: :meth:`reserve` is the fleet's gate (``FleetStore.reserve``, one locked transaction),
with this bot's balance and positions as of now (the other members' as of their last report).

Decisions:
- A reservation lives until this bot's next heartbeat after the grant, which already counts the
  entry (the open order's remaining stake, or the filled amount), or counts nothing because the
  entry was refused, cancelled or never placed. Failing that heartbeat, it expires with the lease.
  Until then this bot's own in-flight entries count twice (reservation and position), which
  only errs on the safe side for at most one loop. Another member's entry that filled since its
  report shows in the live account balance but not yet in its positions: the equity is short
  by its stake until that member's next report, again on the safe side.
- The account's stake balance: live, this bot's wallet, which IS the account's balance (every
  bot sees the same one). Dry-run, each bot simulates its own ``dry_run_wallet``, so the fleet's
  simulated account is the SUM of the members' wallets (each member reports its balance; this
  bot's is fresh, the others' as of their last report).
- ``count_external_holdings``: other members' coins are in the same account, so their positions'
  value is taken off what this bot's wallet calls external (never below 0).
- The leader records each published trim as placed under its fleet key (``bot|pair``): the
  planner then holds that stake back and never plans a second trim of a position in flight. It
  is settled filled once the member's reported amount drops, else it expires with
  ``trim_timeout_seconds`` and is planned again.
- A stale member (its report older than the lease: stopped or killed) keeps counting, but its
  positions are dust to the leader's planner (:func:`fleet_min_stakes`): nobody would execute
  a trim of them, so the living members' trades are cut instead.
- The database unreachable while running: no new entries (fail closed, one warning per episode),
  the state, lock and planning use the last members seen with this bot's own positions fresh;
  exits and trims already taken go on; no round is published or taken until it answers again.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from trader247.adapters.cap_controller import CapController
from trader247.adapters.fleet_store import FleetStore, FleetUnavailable
from trader247.core.exposure import CapState, EntryDecision, Exposure, Snapshot
from trader247.core.fleet import (
    Leader,
    Member,
    Reservation,
    fleet_snapshot,
    split_key,
    split_round,
)
from trader247.core.words import Word

logger = logging.getLogger(__name__)


def this_instance() -> str:
    """The process running a member (``host:pid``): a ``/reload_config`` stays the same one."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class CapFleet:
    store: FleetStore
    bot: str
    cap_pct: float
    instance: str
    clock: Callable[[], float]
    shared_wallet: bool  # live: one account balance; dry-run: each bot's own simulated wallet
    available: bool = True
    leader: Leader | None = None
    last_account: Snapshot | None = None
    reservations: int = 0
    members: int = 0
    _members: tuple[Member, ...] = ()
    _reservations: tuple[Reservation, ...] = ()
    _balances: dict[str, float] = field(default_factory=dict)
    _db_now: float = 0.0
    _held: set[int] = field(default_factory=set)
    _releasable: tuple[int, ...] = ()
    _published: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def join(self, stake_balance: float | None = None) -> None:
        """At start, with the wallet's stake balance (the other members count it before this
        bot's first loop); ``FleetConfigError`` / ``FleetUnavailable`` stop the bot."""
        self.store.join(self.bot, self.cap_pct, self.instance, stake_balance)

    def leave(self) -> None:
        """Freqtrade's shutdown and ``/reload_config``: free the name, drop the lease, close
        the connections (the reloaded strategy joins again with a store of its own)."""
        try:
            self.store.leave(self.bot, self.instance)
        except FleetUnavailable as exc:
            logger.warning("fleet: could not leave cleanly (%s); the name frees after the lease",
                           exc)
        finally:
            self.store.dispose()

    def stale_bots(self) -> set[str]:
        """Members whose last report is older than the lease, on the database's clock as of
        this bot's last heartbeat."""
        return {m.bot for m in self._members
                if m.bot != self.bot and m.stale(self._db_now, self.store.policy.lease_seconds)}

    @property
    def is_leader(self) -> bool:
        return self.available and self.leader is not None and self.leader.bot == self.bot

    # ------------------------------------------------------------------ the loop
    def begin_iteration(self) -> None:
        """Before the loop reads its trades: every reservation granted so far is in them."""
        with self._lock:
            self._releasable = tuple(self._held)

    def account(self, own: Snapshot, controller: CapController) -> Snapshot:
        """Heartbeat with ``own`` positions; the account as one snapshot (module doc)."""
        with self._lock:
            release = tuple(i for i in self._releasable if i in self._held)
        now = self.clock()
        try:
            beat = self.store.heartbeat(self.bot, self.cap_pct, own.positions, release,
                                        own.stake_balance)
            with self._lock:
                self._held.difference_update(release)
            self._members, self._reservations = tuple(beat.members), tuple(beat.reservations)
            self._balances, now = beat.balances, beat.now
            self._db_now = now
            self._up()
        except FleetUnavailable as exc:
            self._down(exc)
        others = [m for m in self._members if m.bot != self.bot]
        mine = Member(self.bot, self.cap_pct, own.positions, now)
        snapshot = fleet_snapshot(self.account_balance(own), [*others, mine], self._reservations,
                                  now)
        others_value = sum(p.value for m in others for p in m.positions)
        snapshot = replace(snapshot, external_holdings_value=max(
            0.0, own.external_holdings_value - others_value))
        self.reservations = sum(1 for r in self._reservations if r.active(now))
        self.members = len(others) + 1
        self.last_account = snapshot
        self._settle(controller, snapshot, now)
        return snapshot

    def account_balance(self, own: Snapshot) -> float:
        """The account's stake balance (module doc: live shared, dry-run summed)."""
        if self.shared_wallet:
            return own.stake_balance
        return own.stake_balance + sum(v for bot, v in self._balances.items() if bot != self.bot)

    def _settle(self, controller: CapController, snapshot: Snapshot, now: float) -> None:
        """The leader's published trims: filled once the member's amount dropped (module doc)."""
        if not self._published:
            return
        amounts = {p.pair: p.amount for p in snapshot.positions}
        for key, before in list(self._published.items()):
            if key not in controller.trim_state.open_trims:
                del self._published[key]  # expired (re-planned) or settled
            elif amounts.get(key, 0.0) < before * (1 - 1e-9):
                controller.trim_filled(key, now)
                del self._published[key]

    def round(self, controller: CapController, now: float) -> None:
        """After the evaluation: the leader publishes its round, every bot takes its trims."""
        if not self.available:
            return
        try:
            self.leader = self.store.lead(self.bot)
            if self.is_leader:
                self._publish(controller, now)
            taken = self.store.take_trims(self.bot)
        except FleetUnavailable as exc:
            self._down(exc)
            return
        if taken:
            logger.info("fleet: %d trim(s) of this bot's trades taken: %s", len(taken),
                        ",".join(o.pair for o in taken))
            controller.hand_out(taken)

    def _publish(self, controller: CapController, now: float) -> None:
        plan = controller.last_plan
        if plan is None or not plan.orders or self.leader is None:
            return
        if not self.store.publish_round(self.leader, dict(split_round(plan.orders))):
            return  # the lease moved on meanwhile: the new leader plans
        amounts = {p.pair: p.amount for p in (self.last_account.positions
                                              if self.last_account else ())}
        for order in plan.orders:
            controller.trim_placed(order, now)
            self._published[order.pair] = amounts.get(order.pair, 0.0)
        logger.info("fleet: round of %d trim(s) published (term %d): %s", len(plan.orders),
                    self.leader.term, ",".join(o.pair for o in plan.orders))

    # ------------------------------------------------------------------ entries
    def reserve(self, pair: str, own: Snapshot, state: CapState, controller: CapController, *,
                requested: float, min_stake: float | None, max_stake: float) -> EntryDecision:
        return self.reserve_measured(pair, own, state, controller, requested=requested,
                                     min_stake=min_stake, max_stake=max_stake)[0]

    def reserve_measured(self, pair: str, own: Snapshot, state: CapState,
                         controller: CapController, *, requested: float,
                         min_stake: float | None, max_stake: float,
                         ) -> tuple[EntryDecision, Exposure | None]:
        """:meth:`reserve`, with the account's exposure the fleet's gate measured (None when
        the database did not answer) for the operator's message."""
        try:
            grant = self.store.reserve(
                self.bot, pair, stake_balance=own.stake_balance, cap_policy=controller.policy,
                state=state, requested=requested, min_stake=min_stake, max_stake=max_stake,
                positions=own.positions, add_member_balances=not self.shared_wallet)
        except FleetUnavailable as exc:
            self._down(exc)
            return EntryDecision(None, f"{Word.FLEET_UNAVAILABLE}: pair={pair} (no entries until "
                                       "the fleet database answers)"), None
        self._up()
        if grant.reservation_id is not None:
            with self._lock:
                self._held.add(grant.reservation_id)
        return grant.decision, grant.exposure

    # ------------------------------------------------------------------ availability
    def _down(self, exc: Exception) -> None:
        if self.available:
            logger.warning("%s: %s; no new entries until it answers (exits and "
                           "this bot's taken trims go on)", Word.FLEET_UNAVAILABLE, exc)
        self.available = False

    def _up(self) -> None:
        if not self.available:
            logger.warning("FLEET_AVAILABLE again: entries go through the fleet's gate")
        self.available = True


# A stale member (stopped or killed) cannot sell: the planner sees its positions as dust, so
# they count toward the cap but no trim is planned that nobody would execute.
CANNOT_SELL = sys.float_info.max


def fleet_min_stakes(
    own_min_stakes: Callable[[Snapshot], dict[str, float]],
    stale_bots: Callable[[], set[str]],
) -> Callable[[Snapshot], dict[str, float]]:
    """The exchange's minimum stake of every ``bot|pair`` position (looked up by its pair);
    a stale member's positions get :data:`CANNOT_SELL`."""

    def min_stakes(snapshot: Snapshot) -> dict[str, float]:
        held = [p for p in snapshot.positions if p.amount > 0]
        plain = Snapshot(snapshot.stake_balance, tuple(
            replace(p, pair=split_key(p.pair)[1]) for p in held))
        by_pair = own_min_stakes(plain)
        stale = stale_bots()
        return {p.pair: CANNOT_SELL if split_key(p.pair)[0] in stale
                else by_pair.get(split_key(p.pair)[1], 0.0) for p in held}

    return min_stakes
