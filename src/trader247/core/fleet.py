"""Fleet: several bots on one exchange account keep ONE at-risk cap. Decisions only.

Each bot sees only its own trades; three bots each under a 25 % cap could hold 75 % of the
account. In a fleet every bot publishes what it holds (positions at mark and open entry stake) to
a shared PostgreSQL database, and the decisions here combine them into one account snapshot that
goes through the one exposure definition (:func:`trader247.core.exposure.measure`):

- ``at_risk`` = every member's positions at mark + every member's open entry stake + the stake of
  every unexpired reservation (an entry granted but not yet placed on the exchange);
- ``equity`` = the account's total stake-currency balance + every member's positions at mark.

Decisions:
- A member's positions count whatever the age of its last report: a bot killed with -9 leaves its
  coins in the account, so they stay at risk (at their last marks, and the member is reported
  stale) until a bot with the same name reports again. Only reservations expire (their lease),
  because an entry that was never placed holds nothing.
- Entries reserve headroom: :func:`reserve` is the global gate (:func:`clamp_entry_stake`) applied
  to the fleet snapshot; the store runs it inside one locked transaction, so two bots can never
  both spend the last headroom.
- Over the cap, the leader plans one trim round for the whole fleet with the ordinary planner
  (:func:`trader247.core.trims.plan_trims`) on positions keyed ``bot|pair``; :func:`split_round`
  hands each bot the orders of its own trades, so no position is trimmed twice and the cut is
  proportional across the fleet.
- Leadership is a lease (:func:`next_leader`): the holder renews it, anyone takes it over once it
  has expired, and every change increments ``term`` so a round planned by an earlier leader can be
  told apart.
- Every member must run the same cap: :func:`join_problem` names both values otherwise.

Time is passed in (the store uses the database's clock, one clock for the whole fleet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from trader247.core.exposure import EntryDecision, Position, Snapshot, clamp_entry_stake, measure
from trader247.core.trims import TrimOrder
from trader247.core.words import Word

if TYPE_CHECKING:  # named in signatures only: built by the caller, read here
    from trader247.core.exposure import CapPolicy, CapState, Exposure

KEY_SEPARATOR = "|"


@dataclass(frozen=True, slots=True)
class FleetPolicy:
    """No defaults and no range checks: both live in ``trader247.core.config.FleetConfig``,
    whose ``to_core()`` builds this object (its name pattern keeps ``KEY_SEPARATOR`` out of
    the name; its bounds keep the lease in (0, 3600])."""

    name: str
    lease_seconds: float


@dataclass(frozen=True, slots=True)
class Member:
    """One bot's last report: its own positions (``pair`` as freqtrade writes it)."""

    bot: str
    cap_pct: float
    positions: tuple[Position, ...]
    reported_at: float

    def stale(self, now: float, lease_seconds: float) -> bool:
        return now - self.reported_at > lease_seconds


@dataclass(frozen=True, slots=True)
class Reservation:
    bot: str
    pair: str
    stake: float
    expires_at: float

    def active(self, now: float) -> bool:
        return self.expires_at > now


@dataclass(frozen=True, slots=True)
class Leader:
    bot: str
    lease_until: float
    term: int


def position_key(bot: str, pair: str) -> str:
    return f"{bot}{KEY_SEPARATOR}{pair}"


def split_key(key: str) -> tuple[str, str]:
    # From the right: a pair never holds the separator, freqtrade's bot_name may ("desk|1").
    bot, _, pair = key.rpartition(KEY_SEPARATOR)
    return bot, pair


def fleet_snapshot(
    stake_balance: float,
    members: Iterable[Member],
    reservations: Iterable[Reservation],
    now: float,
) -> Snapshot:
    """The account as one snapshot; positions keyed ``bot|pair`` (module doc)."""
    positions = [
        Position(position_key(m.bot, p.pair), p.amount, p.mark_price, p.open_entry_stake)
        for m in members for p in m.positions
    ]
    positions += [
        Position(position_key(r.bot, f"{r.pair}#reserved"), 0.0, 0.0, r.stake)
        for r in reservations if r.active(now)
    ]
    return Snapshot(stake_balance, tuple(positions))


def reserve(
    snapshot: Snapshot,
    policy: CapPolicy,
    state: CapState,
    *,
    requested: float,
    min_stake: float | None,
    max_stake: float,
) -> tuple[EntryDecision, Exposure]:
    """The global entry gate on the fleet's snapshot; reasons as the one-bot gate's, prefixed
    ``FLEET`` where the fleet decided (``FLEET_OVER_CAP``)."""
    exposure = measure(snapshot, policy)
    decision = clamp_entry_stake(requested, exposure, state, min_stake=min_stake,
                                 max_stake=max_stake)
    if decision.reason.startswith(Word.EXPOSURE_OVER_CAP):
        decision = EntryDecision(None, Word.FLEET_OVER_CAP + decision.reason.removeprefix(
            Word.EXPOSURE_OVER_CAP))
    return decision, exposure


def join_problem(bot: str, cap_pct: float, members: Iterable[Member], now: float,
                 lease_seconds: float) -> str | None:
    """Why ``bot`` may not join (a live member runs another cap), else None."""
    for m in members:
        if m.bot != bot and not m.stale(now, lease_seconds) and m.cap_pct != cap_pct:
            return (f"bot {bot!r} runs max_total_at_risk_pct {cap_pct:g} but fleet member "
                    f"{m.bot!r} runs {m.cap_pct:g}: every bot of a fleet must use the same cap")
    return None


def next_leader(current: Leader | None, bot: str, now: float, lease_seconds: float) -> Leader:
    """Renew our own lease, take an expired (or absent) one, else keep the current holder."""
    if current is None:
        return Leader(bot, now + lease_seconds, 1)
    if current.bot == bot:
        return Leader(bot, now + lease_seconds, current.term)
    if current.lease_until <= now:
        return Leader(bot, now + lease_seconds, current.term + 1)
    return current


def split_round(orders: Iterable[TrimOrder]) -> Mapping[str, tuple[TrimOrder, ...]]:
    """A fleet round's orders per bot, each with the bot's own pair name."""
    per_bot: dict[str, list[TrimOrder]] = {}
    for order in orders:
        bot, pair = split_key(order.pair)
        per_bot.setdefault(bot, []).append(replace(order, pair=pair))
    return {bot: tuple(found) for bot, found in per_bot.items()}

