"""Stateful: 2-4 bots of one fleet on the test PostgreSQL cluster ([T] item 2).

Each bot is the real ``CapFleet`` + ``FleetStore`` + ``CapController`` with its own engine;
hypothesis interleaves their loops (``begin_iteration`` + reading the trades, then the heartbeat,
the evaluation and the round), entries (reserve, then place the entry or not: an entry can come
from freqtrade's API thread in the middle of a loop), positions that change between heartbeats,
a clock, leaving, being killed and restarted, a pause between taking the lease and publishing,
and the database away and back for one bot. A plain model of what the fleet must know is kept
beside them; the checks:

- every grant measures the account the model knows: each member's last report once (this bot's
  positions fresh, never also its report), every live reservation once;
- after a grant, the account (every member's report, every entry placed since then whose
  reservation still lives, this bot's positions, the reservations not yet placed) is at most
  the target (cap - band); this is stricter than the issue's "cap + one entry";
- a reservation lives until the heartbeat that carries it (a heartbeat whose trades were read
  after the grant) or its lease, and no longer (the database is compared after every step);
- the lease goes as :func:`next_leader` says; at most one bot holds a valid lease; a round is
  published only by the holder while its lease is valid, plans nothing for a member stale at
  the leader's heartbeat nor more than a member reported; each published row is taken once, by
  its bot.

Time is the database's clock moved by the test: every store reads ``now`` from a row of
``trader247_test_clock`` (``FleetStore(clock_sql=...)``, the store's one time seam), so leases
expire exactly at their boundary without sleeping. "Away" refuses every new connection of that
bot's engine (a SQLAlchemy ``do_connect`` hook, pooled connections dropped): the store's own
error path runs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import create_engine, text
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine

from tests.shipped import shipped_cap_policy
from tests.stateful.budget import bounded
from trader247.adapters.cap_controller import CapController
from trader247.adapters.cap_fleet import CapFleet, fleet_min_stakes
from trader247.adapters.fleet_store import FleetConfigError, FleetStore, FleetUnavailable, Grant
from trader247.core.exposure import CapState, Position, Snapshot
from trader247.core.fleet import FleetPolicy, Leader
from trader247.core.trims import TrimOrder

LEASE = 30.0
CAP = shipped_cap_policy(trim_interval_cycles=1)  # cap 25 %, target 23 %
PRICES = {"BTC/USD": 100.0, "ETH/USD": 10.0, "SOL/USD": 1.0}
MIN_STAKE = 5.0
T0 = 1_800_000_000.0
CLOCK_TABLE = "trader247_test_clock"
SETTINGS = bounded(max_examples=25, steps=50)
_fleets = itertools.count()


def value(positions: tuple[Position, ...]) -> float:
    return sum(p.value + p.open_entry_stake for p in positions)


def positions(holdings: dict[str, float]) -> tuple[Position, ...]:
    return tuple(Position(pair, amount, PRICES[pair]) for pair, amount in sorted(holdings.items())
                 if amount > 0)


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


class SqlClock:
    """The fleet's database clock: a row every store reads instead of ``clock_timestamp()``."""

    def __init__(self, admin: Engine, fleet: str) -> None:
        self.admin, self.fleet, self.now = admin, fleet, T0
        self.sql = f"SELECT at FROM {CLOCK_TABLE} WHERE name = '{fleet}'"
        with admin.begin() as c:
            c.execute(text(f"INSERT INTO {CLOCK_TABLE} (name, at) VALUES (:n, :t)"),
                      {"n": fleet, "t": T0})

    def advance(self, seconds: float) -> None:
        self.now += seconds
        with self.admin.begin() as c:
            c.execute(text(f"UPDATE {CLOCK_TABLE} SET at = :t WHERE name = :n"),
                      {"n": self.fleet, "t": self.now})

    def __call__(self) -> float:  # CapFleet's own clock, read while the database is away
        return self.now


class Outage:
    """One bot's way to the database, cut and restored: new connections are refused."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.away = engine, False
        sa_event.listen(engine, "do_connect", self._connect)

    def _connect(self, *_args: Any) -> None:
        if self.away:
            raise psycopg.OperationalError("connection refused (taken away by the test)")

    def set(self, away: bool) -> None:
        self.away = away
        self.engine.dispose()


@dataclass
class Row:
    """A member row as the model knows it."""

    positions: tuple[Position, ...]
    reported_at: float
    instance: str


@dataclass
class Res:
    id: int
    bot: str
    owner: CapFleet
    stake: float
    granted: int  # step
    expires_at: float
    placed: bool
    released: bool = False  # by a heartbeat that carries it

    def live(self, now: float) -> bool:
        return not self.released and self.expires_at > now


@dataclass
class Entry:
    bot: str
    res: int
    stake: float
    placed: int  # step
    reported: bool = False


@dataclass
class Bot:
    name: str
    store: FleetStore
    outage: Outage
    holdings: dict[str, float] = field(default_factory=dict)
    fleet: CapFleet | None = None  # None while stopped
    controller: CapController | None = None
    instance: str = ""
    starts: int = 0
    began: int | None = None  # the step of begin_iteration + reading the trades
    snapshot: Snapshot | None = None
    beat_at: float = 0.0  # the model time of the last heartbeat
    pause: float = 0.0  # before the next publish: the clock moves on (a GC pause)
    grants: list[Grant] = field(default_factory=list)


def trim_rows(orders: tuple[TrimOrder, ...]) -> list[tuple[Any, ...]]:
    return sorted((o.pair, o.stake_to_sell, o.amount, o.reason, o.full_exit) for o in orders)


class FleetMachine(RuleBasedStateMachine):
    def __init__(self, url: str, admin: Engine) -> None:
        super().__init__()
        self.url, self.admin = url, admin
        self.policy = FleetPolicy(f"sm{next(_fleets)}", LEASE)
        self.clock = SqlClock(admin, self.policy.name)
        self.step, self.balance = 0, 1000.0
        self.bots: list[Bot] = []
        self.rows: dict[str, Row] = {}
        self.res: dict[int, Res] = {}
        self.entries: list[Entry] = []
        self.leader: Leader | None = None
        self.untaken: dict[str, list[tuple[Any, ...]]] = {}

    # ------------------------------------------------------------------ set-up
    @initialize(held=st.lists(st.sampled_from([40.0, 120.0, 0.0]), min_size=2, max_size=4))
    def members(self, held: list[float]) -> None:
        """2-4 bots join, bot i holding ``held[i]`` USD of one pair, and run one loop each."""
        pairs = sorted(PRICES)
        for i, usd in enumerate(held):
            engine = create_engine(self.url, pool_pre_ping=True)
            store = FleetStore(engine, self.policy, clock_sql=self.clock.sql)
            bot = Bot(f"b{i}", store, Outage(engine))
            bot.holdings[pairs[i % len(pairs)]] = usd / PRICES[pairs[i % len(pairs)]]
            self._spy(bot)
            self.bots.append(bot)
            self._start(bot)
            assert bot.fleet is not None
        for i in range(len(held)):
            self._loop(i, split=False)

    def teardown(self) -> None:
        for bot in self.bots:
            bot.store.dispose()

    def _bot(self, i: int) -> Bot | None:
        self.step += 1
        bot = self.bots[i % len(self.bots)]
        return bot if bot.fleet is not None else None

    def _start(self, bot: Bot) -> None:
        bot.starts += 1
        instance = f"host:{bot.name}:{bot.starts}"
        row = self.rows.get(bot.name)
        if bot.outage.away:
            expected = "away"
        elif row and row.instance and row.instance != instance and \
                self.clock.now - row.reported_at <= LEASE:
            expected = "taken"
        else:
            expected = "joined"
        fleet = CapFleet(bot.store, bot.name, CAP.max_total_at_risk_pct, instance, self.clock,
                         shared_wallet=True)
        try:
            fleet.join()
            outcome = "joined"
        except FleetConfigError:
            outcome = "taken"
        except FleetUnavailable:
            outcome = "away"
        assert outcome == expected, f"join of {bot.name}: {outcome}, the model says {expected}"
        if outcome == "joined":
            bot.fleet, bot.instance, bot.began = fleet, instance, None
            bot.controller = CapController(policy=CAP, stake_currency="USD", cycle_seconds=5.0)
            self.rows[bot.name] = Row(row.positions if row else (), self.clock.now, instance)

    # ------------------------------------------------------------------ the store, watched
    def _spy(self, bot: Bot) -> None:
        """Record what the real store answered and check it against the model as it happens."""
        store = bot.store
        reserve, lead, publish, take = (store.reserve, store.lead, store.publish_round,
                                        store.take_trims)

        def reserve_spy(*args: Any, **kwargs: Any) -> Grant:
            grant = reserve(*args, **kwargs)
            bot.grants.append(grant)
            return grant

        def lead_spy(name: str) -> Leader:
            got = lead(name)
            expected = self._next_leader(name)
            assert got == expected, f"lead({name}) gave {got}, the model says {expected}"
            self.leader = got
            return got

        def publish_spy(leader: Leader, per_bot: dict[str, tuple[TrimOrder, ...]]) -> int:
            if bot.pause:
                self.clock.advance(bot.pause)
                bot.pause = 0.0
            published = publish(leader, per_bot)
            self._published(bot, leader, per_bot, published)
            return published

        def take_spy(name: str) -> tuple[TrimOrder, ...]:
            got = take(name)
            expected = self.untaken.pop(name, [])
            assert trim_rows(got) == expected, (
                f"{name} took {trim_rows(got)}; published and not yet taken: {expected}")
            return got

        store.reserve, store.lead = reserve_spy, lead_spy  # type: ignore[method-assign]
        store.publish_round, store.take_trims = publish_spy, take_spy  # type: ignore[method-assign]

    def _next_leader(self, name: str) -> Leader:
        current, now = self.leader, self.clock.now
        if current is None:
            return Leader(name, now + LEASE, 1)
        if current.bot == name:
            return Leader(name, now + LEASE, current.term)
        if current.lease_until <= now:
            return Leader(name, now + LEASE, current.term + 1)
        return current

    def _published(self, bot: Bot, leader: Leader, per_bot: dict[str, tuple[TrimOrder, ...]],
                   published: int) -> None:
        model, now = self.leader, self.clock.now
        valid = (model is not None and (model.bot, model.term) == (leader.bot, leader.term)
                 and model.lease_until > now)
        expected = sum(len(orders) for orders in per_bot.values()) if valid else 0
        assert published == expected, (
            f"{bot.name} published {published} row(s) with lease {leader} at {now}; the lease "
            f"is {model}: only the holder of a valid lease publishes")
        if not valid:
            return
        stale = {name for name, row in self.rows.items()
                 if name != bot.name and bot.beat_at - row.reported_at > LEASE}
        assert not set(per_bot) & stale, f"trims planned for stale member(s) {set(per_bot) & stale}"
        for name, orders in per_bot.items():
            held = {p.pair: p.amount for p in self.rows[name].positions}
            for order in orders:
                assert order.amount <= held.get(order.pair, 0.0) * (1 + 1e-9), (
                    f"{name}: {order} sells more than the {held.get(order.pair)} reported")
        self.untaken = {name: trim_rows(orders) for name, orders in per_bot.items() if orders}

    # ------------------------------------------------------------------ the loop
    def _loop(self, i: int, split: bool) -> None:
        """The bot's loop: begin (the trades are read), heartbeat + evaluation + round. ``split``
        stops after the begin: other steps run in the middle, the next loop finishes it. A
        stopped bot is started again (a new process)."""
        bot = self._bot(i)
        if bot is None or bot.fleet is None:
            self._start(self.bots[i % len(self.bots)])
            return
        if bot.began is None:
            bot.fleet.begin_iteration()
            bot.began = self.step
            bot.snapshot = Snapshot(self.balance, positions(bot.holdings))
            if split:
                return
        self._beat(bot)

    # The loop is what bots do most: it weighs twice among the rules.
    loop = rule(i=st.integers(0, 3), split=st.sampled_from([True, False]))(_loop)
    loop_too = rule(i=st.integers(0, 3), split=st.sampled_from([True, False]))(_loop)

    def _beat(self, bot: Bot) -> None:
        assert bot.fleet is not None and bot.controller is not None and bot.snapshot
        own, began, now = bot.snapshot, bot.began, self.clock.now
        bot.began = None
        account = bot.fleet.account(own, bot.controller)
        up = not bot.outage.away
        assert bot.fleet.available is up
        if up:
            self.rows[bot.name] = Row(own.positions, now, bot.instance)
            bot.beat_at = now
            for res in self.res.values():
                if res.owner is bot.fleet and began is not None and res.granted < began:
                    res.released = True
            for entry in self.entries:
                if entry.bot == bot.name and began is not None and entry.placed < began:
                    entry.reported = True
            others = sum(value(r.positions) for name, r in self.rows.items() if name != bot.name)
            reserved = sum(r.stake for r in self.res.values() if r.live(now))
            assert close(value(account.positions), others + value(own.positions) + reserved), (
                f"{bot.name}'s account holds {value(account.positions)} at risk; the model: "
                f"{others} reported by the others + {value(own.positions)} its own + {reserved} "
                "reserved")
        min_stakes = fleet_min_stakes(lambda s: {p.pair: MIN_STAKE for p in s.positions},
                                      bot.fleet.stale_bots)
        needs = bot.controller.needs_min_stakes(account)
        bot.controller.evaluate(account, min_stakes(account) if needs else 0.0, now)
        bot.fleet.round(bot.controller, now)
        for pair in sorted(bot.holdings):  # the trims taken: market sells, filled at once
            order = bot.controller.trim_for(pair)
            if order is not None:
                held = bot.holdings[pair]
                sold = held if order.full_exit else min(order.amount, held)
                bot.holdings[pair] = held - sold
                self.balance += sold * PRICES[pair]

    # ------------------------------------------------------------------ entries
    @rule(i=st.integers(0, 3), pair=st.sampled_from(sorted(PRICES)),
          requested=st.sampled_from([20.0, 60.0, 150.0, 400.0, 3.0]), place=st.booleans())
    def enter(self, i: int, pair: str, requested: float, place: bool) -> None:
        """An entry: the fleet's gate, then the order placed (filled at once) or not."""
        bot = self._bot(i)
        if bot is None or bot.fleet is None or bot.controller is None:
            return
        own = Snapshot(self.balance, positions(bot.holdings))
        bot.grants.clear()
        decision = bot.fleet.reserve(pair, own, bot.controller.state, bot.controller,
                                     requested=requested, min_stake=MIN_STAKE, max_stake=1e9)
        if bot.outage.away:
            assert decision.stake is None and decision.reason.startswith("FLEET_UNAVAILABLE")
            return
        (grant,) = bot.grants
        self._check_grant(bot, own, grant, requested)
        if grant.reservation_id is None or decision.stake is None:
            return
        self.res[grant.reservation_id] = Res(
            grant.reservation_id, bot.name, bot.fleet, decision.stake, self.step,
            self.clock.now + LEASE, place)
        if place:
            bot.holdings[pair] = bot.holdings.get(pair, 0.0) + decision.stake / PRICES[pair]
            self.balance -= decision.stake
            self.entries.append(Entry(bot.name, grant.reservation_id, decision.stake, self.step))

    @rule(i=st.integers(0, 3), pair=st.sampled_from(sorted(PRICES)),
          requested=st.sampled_from([20.0, 60.0, 150.0]), place=st.booleans())
    def api_entry(self, i: int, pair: str, requested: float, place: bool) -> None:
        """freqtrade's API thread enters (``/forceenter``) while the loop is between reading its
        trades and its heartbeat; the loop then finishes: that heartbeat does not carry it."""
        bot = self.bots[i % len(self.bots)]
        if bot.fleet is None:
            return
        if bot.began is None:
            self._loop(i, split=True)
        self.enter(i, pair, requested, place)
        if bot.fleet is not None and bot.began is not None:
            self._loop(i, split=False)

    def _check_grant(self, bot: Bot, own: Snapshot, grant: Grant, requested: float) -> None:
        now = self.clock.now
        others = sum(value(row.positions) for name, row in self.rows.items() if name != bot.name)
        live = [r for r in self.res.values() if r.live(now)]
        at_risk = others + value(own.positions) + sum(r.stake for r in live)
        equity = self.balance + others + value(own.positions)
        exposure = grant.exposure
        assert close(exposure.at_risk, at_risk) and close(exposure.equity, equity), (
            f"{bot.name}'s grant measured at_risk={exposure.at_risk} equity={exposure.equity}; "
            f"the model: {at_risk} / {equity} (each report once, this bot's positions fresh, "
            "every live reservation once)")
        target = CAP.target_pct * equity / 100.0
        tolerance = 1e-9 * max(equity, at_risk) + 1e-9
        stake = grant.decision.stake
        if stake is not None:
            unreported = sum(e.stake for e in self.entries if e.bot != bot.name
                             and not e.reported and self.res[e.res].live(now))
            account = (others + unreported + value(own.positions)
                       + sum(r.stake for r in live if not r.placed) + stake)
            assert account <= target + tolerance, (
                f"{bot.name} was granted {stake}: the account would hold {account} > target "
                f"{target} (entries placed by others since their reports: {unreported})")
            return
        over = at_risk > CAP.max_total_at_risk_pct * equity / 100.0 + tolerance
        assert (bot.controller is not None and bot.controller.state is CapState.REDUCING) \
            or over or min(requested, target - at_risk) < MIN_STAKE + tolerance, (
            f"{bot.name} refused {requested} with {target - at_risk} of headroom: "
            f"{grant.decision.reason}")

    # ------------------------------------------------------------------ the world
    @rule(i=st.integers(0, 3), pair=st.sampled_from(sorted(PRICES)),
          usd=st.sampled_from([30.0, 120.0, 400.0, 0.0]))
    def positions_change(self, i: int, pair: str, usd: float) -> None:
        """A fill, an exit or a price move: the fleet learns it at the bot's next heartbeat."""
        bot = self.bots[i % len(self.bots)]
        bot.holdings[pair] = usd / PRICES[pair]

    @rule(seconds=st.sampled_from([5.0, 31.0, 15.0, LEASE, 29.0, 1.0]))
    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(i=st.integers(0, 3), kind=st.sampled_from(["back", "away", "pause", "leave", "kill"]),
          seconds=st.sampled_from([31.0, LEASE, 10.0]))
    def fault(self, i: int, kind: str, seconds: float) -> None:
        """The database away or back for this bot; a pause of ``seconds`` between taking the
        lease and publishing (a GC pause); a clean stop (``leave``: the name free at once, the
        lease dropped) or a kill -9 (the next loop starts a new process, refused while the old
        one's report is fresh)."""
        bot = self.bots[i % len(self.bots)]
        self.step += 1
        if kind in ("away", "back"):
            bot.outage.set(kind == "away")
        elif kind == "pause":
            bot.pause = seconds
        elif bot.fleet is not None:
            if kind == "leave":
                bot.fleet.leave()
                if not bot.outage.away:
                    self.rows[bot.name].reported_at = 0.0
                    if self.leader is not None and self.leader.bot == bot.name:
                        self.leader = None
            bot.fleet = bot.controller = None

    @rule(i=st.integers(0, 3), stall=st.sampled_from([31.0, 0.0, LEASE, 29.0]),
          share=st.sampled_from([0.5, 1.0]))
    def late_publish(self, i: int, stall: float, share: float) -> None:
        """A leader stalls ``stall`` seconds between planning and publishing, then publishes
        with the lease it last took: one trim of the first position a member reported (the
        member not stale when the leader last beat)."""
        bot = self._bot(i)
        if bot is None or bot.fleet is None or bot.fleet.leader is None \
                or bot.fleet.leader.bot != bot.name:
            return
        self.clock.advance(stall)
        held = [(name, p) for name, row in sorted(self.rows.items()) for p in row.positions
                if name == bot.name or bot.beat_at - row.reported_at <= LEASE]
        round_ = {name: (TrimOrder(p.pair, p.value * share, p.amount * share, "TRIM_LATE",
                                   share == 1.0),) for name, p in held[:1]}
        try:
            bot.store.publish_round(bot.fleet.leader, round_)
        except FleetUnavailable:
            assert bot.outage.away

    # ------------------------------------------------------------------ invariants
    @invariant()
    def reservations_live_until_carried(self) -> None:
        now = self.clock.now
        with self.admin.begin() as c:
            stored = {int(r[0]) for r in c.execute(text(
                "SELECT id FROM trader247_fleet_reservation WHERE fleet = :f AND expires_at > :n"),
                {"f": self.policy.name, "n": now})}
        model = {r.id for r in self.res.values() if r.live(now)}
        assert stored == model, (
            f"reservations in the database {sorted(stored)}, the model {sorted(model)}: one "
            "lives until the heartbeat that carries it (trades read after its grant) or its lease")

    @invariant()
    def one_leader(self) -> None:
        now = self.clock.now
        holders = [b.name for b in self.bots if b.fleet is not None and b.fleet.leader is not None
                   and b.fleet.leader.bot == b.name and b.fleet.leader.lease_until > now]
        assert len(holders) <= 1, f"{holders} all hold a valid lease at {now}"


@pytest.fixture
def admin(postgres_url: str) -> Any:
    engine = create_engine(postgres_url)
    FleetStore(engine, FleetPolicy("schema", LEASE)).ensure_schema()
    with engine.begin() as c:
        c.execute(text(f"CREATE TABLE {CLOCK_TABLE} (name TEXT PRIMARY KEY, "
                       "at DOUBLE PRECISION NOT NULL)"))
    yield engine
    engine.dispose()


def test_fleet_machine(postgres_url: str, admin: Engine) -> None:
    run_state_machine_as_test(lambda: FleetMachine(postgres_url, admin), settings=SETTINGS)
