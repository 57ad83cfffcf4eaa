"""Fleet storage: the fleet's shared PostgreSQL tables (members, reservations, leader, rounds).

Shared by every bot of a fleet, unlike :mod:`~trader247.adapters.state_store` (one bot's own
key-value row in its freqtrade database).

Decisions (the rules themselves are pure, in :mod:`trader247.core.fleet`):
- PostgreSQL only. SQLite has no advisory locks and one writer per file; a fleet URL that is not
  ``postgresql...`` is refused at start with the key's name (:class:`FleetConfigError`).
- Every decision that spends or changes shared state runs in ONE transaction holding the fleet's
  advisory lock (``pg_advisory_xact_lock(hashtext('trader247_fleet:<name>'))``): read the members
  and reservations, decide in the core, write, commit. Two bots can never both spend the last
  headroom, and the lock is released by the transaction's end even if the bot dies in it.
- Time is the database's clock (``clock_timestamp()``, epoch seconds): one clock for every bot of
  the fleet, whatever their machines' clocks say. Leases and expiries are stored as epoch seconds.
  The query that reads it is the store's one time seam (``clock_sql``): the stateful tests pass
  a query reading a row they move, so leases expire without sleeping (tests/stateful).
- Tables are created on first use (``IF NOT EXISTS``, under a schema lock so three bots starting
  together do not race): ``trader247_fleet_member``, ``trader247_fleet_reservation``,
  ``trader247_fleet_leader``, ``trader247_fleet_trim``. They live in the fleet's database, which
  may be the bots' own freqtrade database or a separate one (``fleet.db_url``).
- A member is one ``bot`` name run by one process (``instance``: host and pid). A second process
  joining under a name whose member reported within the lease is refused (two bots with the
  same ``bot_name`` would overwrite each other's positions); a restart after a crash can join once
  the old report is older than the lease, a clean stop (:meth:`FleetStore.leave`) frees the name
  at once. The left member's positions keep counting: its coins are still in the account.
- A trim row is taken once (``UPDATE ... WHERE taken_at IS NULL RETURNING``): a position is never
  trimmed twice, even when two processes of the same bot name overlap.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from trader247.core.exposure import CapPolicy, CapState, EntryDecision, Exposure, Position
from trader247.core.fleet import (
    FleetPolicy,
    Leader,
    Member,
    Reservation,
    fleet_snapshot,
    join_problem,
    next_leader,
    reserve,
)
from trader247.core.trims import TrimOrder
from trader247.interrupts import raise_interrupt

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trader247_fleet_member (
    fleet TEXT NOT NULL, bot TEXT NOT NULL, cap_pct DOUBLE PRECISION NOT NULL,
    positions TEXT NOT NULL, reported_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (fleet, bot));
CREATE TABLE IF NOT EXISTS trader247_fleet_reservation (
    id BIGSERIAL PRIMARY KEY, fleet TEXT NOT NULL, bot TEXT NOT NULL, pair TEXT NOT NULL,
    stake DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS trader247_fleet_leader (
    fleet TEXT PRIMARY KEY, bot TEXT NOT NULL, lease_until DOUBLE PRECISION NOT NULL,
    term BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS trader247_fleet_trim (
    id BIGSERIAL PRIMARY KEY, fleet TEXT NOT NULL, term BIGINT NOT NULL, bot TEXT NOT NULL,
    pair TEXT NOT NULL, stake DOUBLE PRECISION NOT NULL, amount DOUBLE PRECISION NOT NULL,
    full_exit BOOLEAN NOT NULL, reason TEXT NOT NULL, planned_at DOUBLE PRECISION NOT NULL,
    taken_at DOUBLE PRECISION);
ALTER TABLE trader247_fleet_member ADD COLUMN IF NOT EXISTS instance TEXT NOT NULL DEFAULT '';
ALTER TABLE trader247_fleet_member ADD COLUMN IF NOT EXISTS stake_balance DOUBLE PRECISION
    NOT NULL DEFAULT 0
"""


class FleetConfigError(Exception):
    """The fleet cannot start as configured; the message names the key or the other bot."""


class FleetUnavailable(Exception):
    """The fleet database did not answer; the message carries the database's own words."""


@dataclass(frozen=True, slots=True)
class Beat:
    """What a heartbeat reads back: the fleet as of the database clock ``now``."""

    members: list[Member]
    reservations: list[Reservation]
    now: float
    balances: dict[str, float]  # each member's last reported stake balance


@dataclass(frozen=True, slots=True)
class Grant:
    decision: EntryDecision
    exposure: Exposure
    reservation_id: int | None


# "Now" in epoch seconds, read inside each locked transaction (module doc).
DATABASE_CLOCK_SQL = "SELECT EXTRACT(EPOCH FROM clock_timestamp())"


class FleetStore:
    def __init__(self, engine: Engine, policy: FleetPolicy, *,
                 clock_sql: str = DATABASE_CLOCK_SQL) -> None:
        self._engine = engine
        self.policy = policy
        self._lock_key = f"trader247_fleet:{policy.name}"
        self._clock_sql = clock_sql

    @classmethod
    def connect(cls, db_url: str, policy: FleetPolicy, *, key: str = "fleet.db_url") -> FleetStore:
        """Refuses a URL that is not PostgreSQL and a server that does not answer."""
        if not db_url.startswith("postgres"):  # postgresql+driver://, and postgres://
            scheme = db_url.split(":", 1)[0] or "(empty)"
            raise FleetConfigError(
                f"{key}: a fleet needs PostgreSQL (postgresql+psycopg://user:pass@host/db), got "
                f"a {scheme!r} URL; SQLite cannot be shared between bots")
        since = sys.exception()
        try:
            engine = create_engine(db_url, pool_pre_ping=True)
            store = cls(engine, policy)
            store.ensure_schema()
        except (SQLAlchemyError, ImportError) as exc:
            raise_interrupt(exc, since=since)
            raise FleetUnavailable(f"{key}: fleet database unreachable: {_reason(exc)}") from exc
        return store

    def ensure_schema(self) -> None:
        with self._engine.begin() as c:
            c.execute(text("SELECT pg_advisory_xact_lock(hashtext('trader247_fleet_schema'))"))
            for statement in _SCHEMA.split(";"):
                c.execute(text(statement))

    @contextmanager
    def _locked(self) -> Iterator[tuple[Connection, float]]:
        """One transaction holding the fleet's lock, with the database's clock. A database error
        is :class:`FleetUnavailable`; an interrupt it hides propagates (``trader247.interrupts``:
        a SIGTERM in ``pool_pre_ping`` surfaced as psycopg's ``ProgrammingError``)."""
        since = sys.exception()
        try:
            with self._engine.begin() as c:
                c.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": self._lock_key})
                now = float(c.execute(text(self._clock_sql)).scalar_one())
                yield c, now
        except SQLAlchemyError as exc:
            raise_interrupt(exc, since=since)
            raise FleetUnavailable(f"fleet database: {_reason(exc)}") from exc

    # --- members ------------------------------------------------------------------------

    def join(self, bot: str, cap_pct: float, instance: str = "",
             stake_balance: float | None = None) -> None:
        """Register ``bot`` (no positions yet reported keeps its last report)."""
        with self._locked() as (c, now):
            problem = join_problem(bot, cap_pct, self._members(c), now, self.policy.lease_seconds)
            if problem is None and instance:
                problem = self._name_taken(c, bot, instance, now)
            if problem:
                raise FleetConfigError(f"fleet {self.policy.name!r}: {problem}")
            self._upsert_member(c, bot, cap_pct, None, now)
            c.execute(text("UPDATE trader247_fleet_member SET instance = :i, stake_balance = "
                           "COALESCE(:s, stake_balance) WHERE fleet = :f AND bot = :b"),
                      {"i": instance, "s": stake_balance, "f": self.policy.name, "b": bot})

    def _name_taken(self, c: Connection, bot: str, instance: str, now: float) -> str | None:
        row = c.execute(text("SELECT instance, reported_at FROM trader247_fleet_member WHERE "
                             "fleet = :f AND bot = :b"), {"f": self.policy.name, "b": bot}).first()
        if row is None or not row[0] or row[0] == instance:
            return None
        age = now - float(row[1])
        if age > self.policy.lease_seconds:
            return None
        return (f"bot_name {bot!r} is already a member, run by {row[0]} (last report "
                f"{age:.0f} s ago): every bot of a fleet needs its own bot_name; a restarted bot "
                f"joins once that report is older than lease_seconds "
                f"({self.policy.lease_seconds:g} s)")

    def leave(self, bot: str, instance: str) -> None:
        """A clean stop: the name is free at once, the positions keep counting, the lease goes."""
        with self._locked() as (c, _):
            c.execute(text("UPDATE trader247_fleet_member SET reported_at = 0 WHERE fleet = :f "
                           "AND bot = :b AND instance = :i"),
                      {"f": self.policy.name, "b": bot, "i": instance})
            c.execute(text("DELETE FROM trader247_fleet_leader WHERE fleet = :f AND bot = :b"),
                      {"f": self.policy.name, "b": bot})

    def heartbeat(self, bot: str, cap_pct: float, positions: Sequence[Position],
                  release: Sequence[int] = (), stake_balance: float = 0.0) -> Beat:
        """:meth:`report` (with the bot's stake balance) + :meth:`release` of ``release`` in one
        transaction (the report now carries those entries); the fleet read back."""
        with self._locked() as (c, now):
            self._upsert_member(c, bot, cap_pct, positions, now)
            c.execute(text("UPDATE trader247_fleet_member SET stake_balance = :s WHERE fleet = :f "
                           "AND bot = :b"), {"s": stake_balance, "f": self.policy.name, "b": bot})
            if release:
                c.execute(text("DELETE FROM trader247_fleet_reservation WHERE id = ANY(:ids)"),
                          {"ids": list(release)})
            balances = {str(b): float(v) for b, v in c.execute(text(
                "SELECT bot, stake_balance FROM trader247_fleet_member WHERE fleet = :f"),
                {"f": self.policy.name})}
            return Beat(self._members(c), self._reservations(c, now), now, balances)

    def report(self, bot: str, cap_pct: float, positions: Sequence[Position]) -> None:
        """This bot's own positions at mark (its heartbeat)."""
        with self._locked() as (c, now):
            self._upsert_member(c, bot, cap_pct, positions, now)

    def _upsert_member(self, c: Connection, bot: str, cap_pct: float,
                       positions: Sequence[Position] | None, now: float) -> None:
        body = None if positions is None else json.dumps(
            [[p.pair, p.amount, p.mark_price, p.open_entry_stake] for p in positions])
        c.execute(text(
            "INSERT INTO trader247_fleet_member (fleet, bot, cap_pct, positions, reported_at) "
            "VALUES (:f, :b, :cap, COALESCE(:pos, '[]'), :now) ON CONFLICT (fleet, bot) DO UPDATE "
            "SET cap_pct = EXCLUDED.cap_pct, reported_at = EXCLUDED.reported_at, positions = "
            "COALESCE(:pos, trader247_fleet_member.positions)"),
            {"f": self.policy.name, "b": bot, "cap": cap_pct, "pos": body, "now": now})

    def _members(self, c: Connection) -> list[Member]:
        rows = c.execute(text(
            "SELECT bot, cap_pct, positions, reported_at FROM trader247_fleet_member "
            "WHERE fleet = :f ORDER BY bot"), {"f": self.policy.name})
        return [Member(bot, float(cap), tuple(Position(*p) for p in json.loads(body)), float(at))
                for bot, cap, body, at in rows]

    def members(self) -> list[Member]:
        with self._locked() as (c, _):
            return self._members(c)

    # --- reservations -------------------------------------------------------------------

    def reserve(self, bot: str, pair: str, *, stake_balance: float, cap_policy: CapPolicy,
                state: CapState, requested: float, min_stake: float | None,
                max_stake: float, positions: Sequence[Position] | None = None,
                add_member_balances: bool = False) -> Grant:
        """Grant (and hold for one lease) the largest stake the fleet's headroom allows.

        ``positions``: the bot's own positions now, in place of its last report. The caller's
        ``stake_balance`` is read now too: an entry made since the last report has left the
        balance, so it must be in the positions (or the equity would be short by its stake).
        ``add_member_balances`` (dry-run: each bot simulates its own wallet): the account's
        balance is ``stake_balance`` plus every other member's last reported one."""
        with self._locked() as (c, now):
            held = self._reservations(c, now)
            members = self._members(c)
            if positions is not None:
                members = [m for m in members if m.bot != bot]
                members.append(Member(bot, cap_policy.max_total_at_risk_pct, tuple(positions),
                                      now))
            if add_member_balances:
                stake_balance += float(c.execute(text(
                    "SELECT COALESCE(SUM(stake_balance), 0) FROM trader247_fleet_member WHERE "
                    "fleet = :f AND bot <> :b"), {"f": self.policy.name, "b": bot}).scalar_one())
            snap = fleet_snapshot(stake_balance, members, held, now)
            decision, exposure = reserve(snap, cap_policy, state, requested=requested,
                                         min_stake=min_stake, max_stake=max_stake)
            if decision.stake is None:
                return Grant(decision, exposure, None)
            reservation_id = int(c.execute(text(
                "INSERT INTO trader247_fleet_reservation (fleet, bot, pair, stake, expires_at) "
                "VALUES (:f, :b, :p, :s, :e) RETURNING id"),
                {"f": self.policy.name, "b": bot, "p": pair, "s": decision.stake,
                 "e": now + self.policy.lease_seconds}).scalar_one())
            return Grant(decision, exposure, reservation_id)

    def release(self, reservation_id: int) -> None:
        """The entry filled (its stake is now in the bot's report) or was cancelled."""
        with self._locked() as (c, _):
            c.execute(text("DELETE FROM trader247_fleet_reservation WHERE id = :i"),
                      {"i": reservation_id})

    def _reservations(self, c: Connection, now: float) -> list[Reservation]:
        c.execute(text("DELETE FROM trader247_fleet_reservation WHERE fleet = :f AND "
                       "expires_at <= :now"), {"f": self.policy.name, "now": now})
        rows = c.execute(text("SELECT bot, pair, stake, expires_at FROM "
                              "trader247_fleet_reservation WHERE fleet = :f"),
                         {"f": self.policy.name})
        return [Reservation(b, p, float(s), float(e)) for b, p, s, e in rows]

    def reservations(self) -> list[Reservation]:
        with self._locked() as (c, now):
            return self._reservations(c, now)

    # --- leadership and trim rounds -----------------------------------------------------

    def lead(self, bot: str) -> Leader:
        """Renew or take the leader lease (core :func:`next_leader`); the current leader."""
        with self._locked() as (c, now):
            row = c.execute(text("SELECT bot, lease_until, term FROM trader247_fleet_leader "
                                 "WHERE fleet = :f"), {"f": self.policy.name}).first()
            current = None if row is None else Leader(row[0], float(row[1]), int(row[2]))
            chosen = next_leader(current, bot, now, self.policy.lease_seconds)
            if chosen != current:
                c.execute(text(
                    "INSERT INTO trader247_fleet_leader (fleet, bot, lease_until, term) VALUES "
                    "(:f, :b, :u, :t) ON CONFLICT (fleet) DO UPDATE SET bot = EXCLUDED.bot, "
                    "lease_until = EXCLUDED.lease_until, term = EXCLUDED.term"),
                    {"f": self.policy.name, "b": chosen.bot, "u": chosen.lease_until,
                     "t": chosen.term})
            return chosen

    def publish_round(self, leader: Leader, per_bot: dict[str, tuple[TrimOrder, ...]]) -> int:
        """The leader's round; refused (0 rows) unless ``leader`` still holds the lease."""
        with self._locked() as (c, now):
            row = c.execute(text("SELECT bot, term FROM trader247_fleet_leader WHERE fleet = :f "
                                 "AND lease_until > :now"),
                            {"f": self.policy.name, "now": now}).first()
            if row is None or (row[0], int(row[1])) != (leader.bot, leader.term):
                return 0
            # A new round replaces what an earlier one left untaken.
            c.execute(text("DELETE FROM trader247_fleet_trim WHERE fleet = :f AND taken_at IS "
                           "NULL"), {"f": self.policy.name})
            rows = [{"f": self.policy.name, "t": leader.term, "b": bot, "p": o.pair,
                     "s": o.stake_to_sell, "a": o.amount, "x": o.full_exit, "r": o.reason,
                     "now": now} for bot, orders in per_bot.items() for o in orders]
            if rows:
                c.execute(text(
                    "INSERT INTO trader247_fleet_trim (fleet, term, bot, pair, stake, amount, "
                    "full_exit, reason, planned_at) VALUES (:f, :t, :b, :p, :s, :a, :x, :r, "
                    ":now)"), rows)
            return len(rows)

    def take_trims(self, bot: str) -> tuple[TrimOrder, ...]:
        """This bot's untaken trims of the current round, each handed out once."""
        with self._locked() as (c, now):
            rows = c.execute(text(
                "UPDATE trader247_fleet_trim SET taken_at = :now WHERE fleet = :f AND bot = :b "
                "AND taken_at IS NULL RETURNING pair, stake, amount, reason, full_exit"),
                {"f": self.policy.name, "b": bot, "now": now})
            return tuple(TrimOrder(p, float(s), float(a), r, bool(x)) for p, s, a, r, x in rows)

    def dispose(self) -> None:
        self._engine.dispose()


def _reason(exc: Any) -> str:
    original = getattr(exc, "orig", None)
    message = f"{type(original).__name__}: {original}" if original is not None else str(exc)
    return " ".join(message.split())[:300]
