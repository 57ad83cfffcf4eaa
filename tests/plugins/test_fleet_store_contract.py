"""``adapters.fleet_store`` at its boundaries, deterministic, on the test PostgreSQL cluster.

The store's clock is a row the test moves (``FleetStore(clock_sql=...)``, the store's one time
seam): leases and reports are judged exactly at their limit and one hundredth of a second past
it, without sleeping. What is pinned is what a fleet relies on: the account a grant measures,
how long a reservation and a lease live, who may join under a name, which trims a bot is handed,
the lock every bot of a fleet takes, and the operator's text of each refusal and outage. The
random interleavings of the same rules are tests/stateful/test_fleet_machine.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from tests.shipped import shipped_cap_policy

from trader247.adapters.fleet_store import FleetConfigError, FleetStore, FleetUnavailable
from trader247.core.exposure import CapState, Position
from trader247.core.fleet import FleetPolicy, Leader, Member, Reservation
from trader247.core.trims import TrimOrder

CAP = shipped_cap_policy()  # cap 25 %, target 23 %
LEASE = 30.0
T0 = 1_800_000_000.0
CLOCK = "SELECT at FROM test_clock"


class Fleet:
    """Stores of one fleet on one database, all reading the clock row the test moves."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engines: list[Engine] = []
        self.admin = create_engine(url)
        with self.admin.begin() as c:
            c.execute(text("CREATE TABLE test_clock (at DOUBLE PRECISION NOT NULL)"))
            c.execute(text("INSERT INTO test_clock VALUES (:t)"), {"t": T0})
        self.now = T0

    def store(self, name: str = "main", lease: float = LEASE, **engine_args: Any) -> FleetStore:
        engine = create_engine(self.url, **engine_args)
        self.engines.append(engine)
        found = FleetStore(engine, FleetPolicy(name, lease), clock_sql=CLOCK)
        found.ensure_schema()
        return found

    def at(self, now: float) -> None:
        self.now = now
        with self.admin.begin() as c:
            c.execute(text("UPDATE test_clock SET at = :t"), {"t": now})

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.admin.begin() as c:
            return [tuple(r) for r in c.execute(text(sql), params)]

    def close(self) -> None:
        for engine in [*self.engines, self.admin]:
            engine.dispose()


@pytest.fixture
def fleet(postgres_url: str) -> Iterator[Fleet]:
    found = Fleet(postgres_url)
    yield found
    found.close()


def grant(store: FleetStore, bot: str, requested: float, *, balance: float = 1000.0,
          positions: list[Position] | None = None, add_member_balances: bool = False,
          pair: str = "BTC/USD") -> Any:
    return store.reserve(bot, pair, stake_balance=balance, cap_policy=CAP, state=CapState.ACTIVE,
                         requested=requested, min_stake=1.0, max_stake=1e9, positions=positions,
                         add_member_balances=add_member_balances)


# --------------------------------------------------------------------------- connect / outage

@pytest.mark.parametrize(("url", "scheme"), [
    ("sqlite:///bot.sqlite", "sqlite"),
    ("mysql+pymysql://u:p@host:3306/db", "mysql+pymysql"),  # the scheme, up to the first ':'
    ("", "(empty)"),
    (":memory:", "(empty)"),
])
def test_a_url_that_is_not_postgresql_is_refused_naming_the_key_and_scheme(url: str,
                                                                           scheme: str) -> None:
    with pytest.raises(FleetConfigError) as refused:
        FleetStore.connect(url, FleetPolicy("main", LEASE), key="bots.a.fleet.db_url")
    assert str(refused.value) == (
        "bots.a.fleet.db_url: a fleet needs PostgreSQL (postgresql+psycopg://user:pass@host/db), "
        f"got a {scheme!r} URL; SQLite cannot be shared between bots")


def test_a_postgres_url_is_not_refused_as_another_database() -> None:
    """``postgres://`` is PostgreSQL's own short scheme: not a config error; SQLAlchemy has no
    dialect by that name, which the operator reads as the database's answer."""
    with pytest.raises(FleetUnavailable, match=r"^fleet.db_url: fleet database unreachable: "
                                               r"Can't load plugin: sqlalchemy.dialects:postgres$"):
        FleetStore.connect("postgres://u@127.0.0.1:1/db", FleetPolicy("main", LEASE))


def test_a_driver_that_is_not_installed_is_an_outage_naming_it() -> None:
    with pytest.raises(FleetUnavailable) as raised:
        FleetStore.connect("postgresql+pg8000://u@127.0.0.1:1/db", FleetPolicy("main", LEASE),
                           key="fleet.db_url")
    assert str(raised.value) == ("fleet.db_url: fleet database unreachable: No module named "
                                 "'pg8000'")


def test_connect_creates_the_tables_and_the_store_runs(postgres_url: str) -> None:
    store = FleetStore.connect(postgres_url, FleetPolicy("main", LEASE))
    try:
        store.join("a", 25.0)
        assert [m.bot for m in store.members()] == ["a"]
    finally:
        store.dispose()


def test_a_connection_the_server_closed_is_replaced_not_an_outage(postgres_url: str) -> None:
    """A database restart (or an idle connection the server dropped) between two loops: the
    pooled connection is checked before use and replaced, the bot does not see an outage."""
    store = FleetStore.connect(postgres_url, FleetPolicy("main", LEASE))
    admin = create_engine(postgres_url)
    try:
        with store._engine.connect() as c:
            pid = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with admin.begin() as c:
            assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
        assert store.members() == []
    finally:
        store.dispose()
        admin.dispose()


def _interrupted_schema(interrupt: BaseException) -> type[FleetStore]:
    class Store(FleetStore):
        def ensure_schema(self) -> None:
            error = OperationalError("SELECT 1", {}, psycopg.OperationalError("ping failed"))
            error.__context__ = interrupt
            raise error

    return Store


def test_an_interrupt_hidden_in_a_connect_error_propagates(postgres_url: str) -> None:
    stop = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt) as raised:
        _interrupted_schema(stop).connect(postgres_url, FleetPolicy("main", LEASE))
    assert raised.value is stop


def test_a_connect_error_during_shutdown_is_an_outage(postgres_url: str) -> None:
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as stop:
        try:
            with pytest.raises(FleetUnavailable, match="ping failed"):
                _interrupted_schema(stop).connect(postgres_url, FleetPolicy("main", LEASE))
        except KeyboardInterrupt:  # a test failure, not an interrupted test session
            pytest.fail("the interrupt being handled was raised again from the connect error")


class Refused:
    """New connections of an engine fail with ``message``, raised while handling ``during``."""

    def __init__(self, engine: Engine, message: str, during: BaseException | None = None) -> None:
        self.message, self.during = message, during
        engine.dispose()
        sa_event.listen(engine, "do_connect", self)

    def __call__(self, *_args: Any) -> None:
        if self.during is None:
            raise psycopg.OperationalError(self.message)
        try:
            raise self.during
        except BaseException:  # noqa: BLE001 - psycopg's cleanup failing in turn
            raise psycopg.OperationalError(self.message) from None


def test_an_outage_names_the_database_error_on_one_line_of_at_most_300_characters(
        fleet: Fleet) -> None:
    store = fleet.store()
    refused = Refused(store._engine, "connection refused\n\tis the server   running?")
    with pytest.raises(FleetUnavailable) as raised:
        store.members()
    assert str(raised.value) == ("fleet database: OperationalError: connection refused is the "
                                 "server running?")
    assert isinstance(raised.value.__cause__, OperationalError)
    refused.message = "x" * 400
    with pytest.raises(FleetUnavailable) as raised:
        store.members()
    assert str(raised.value) == "fleet database: " + ("OperationalError: " + "x" * 400)[:300]


def test_an_interrupt_hidden_in_a_database_error_propagates(fleet: Fleet) -> None:
    """A SIGTERM in ``pool_pre_ping`` surfaces as psycopg's error: the bot stops, no outage."""
    store = fleet.store()
    stop = KeyboardInterrupt()
    Refused(store._engine, "can't change 'autocommit' now", during=stop)
    with pytest.raises(KeyboardInterrupt) as raised:
        store.members()
    assert raised.value is stop


def test_a_database_error_during_shutdown_is_an_outage(fleet: Fleet) -> None:
    """freqtrade's shutdown runs while the interrupt propagates: leaving the fleet must not be
    aborted by the very interrupt it is handling (interrupts.py, ``since``)."""
    store = fleet.store()
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as stop:
        Refused(store._engine, "server closed the connection", during=stop)
        try:
            with pytest.raises(FleetUnavailable, match="server closed the connection"):
                store.leave("a", "host:1")
        except KeyboardInterrupt:  # a test failure, not an interrupted test session
            pytest.fail("the interrupt being handled was raised again from the database error")


# --------------------------------------------------------------------------- the fleet's lock

WAIT_200_MS = {"connect_args": {"options": "-c lock_timeout=200"}}


def test_every_bot_of_a_fleet_waits_for_the_documented_advisory_lock(fleet: Fleet) -> None:
    """The lock's name is the fleet's contract between processes (module doc): while another
    session holds it, the store waits (here: 0.2 s of ``lock_timeout``, then an outage)."""
    store, other = fleet.store(**WAIT_200_MS), fleet.store("other", **WAIT_200_MS)
    with fleet.admin.begin() as holder:
        holder.execute(text("SELECT pg_advisory_xact_lock(hashtext('trader247_fleet:main'))"))
        with pytest.raises(FleetUnavailable, match="LockNotAvailable: canceling statement due "
                                                   "to lock timeout"):
            store.members()
        assert other.members() == []  # another fleet's lock is another lock
    assert store.members() == []  # released with the holder's transaction


def test_tables_are_created_under_the_documented_schema_lock(fleet: Fleet) -> None:
    """Three bots starting together: each waits for the one creating the tables."""
    url = f"{fleet.url}?options=-c%20lock_timeout%3D200"
    with fleet.admin.begin() as holder:
        holder.execute(text("SELECT pg_advisory_xact_lock(hashtext('trader247_fleet_schema'))"))
        with pytest.raises(FleetUnavailable, match="^fleet.db_url: fleet database unreachable: "
                                                   "LockNotAvailable: canceling statement due "
                                                   "to lock timeout$"):
            FleetStore.connect(url, FleetPolicy("main", LEASE))
    FleetStore.connect(url, FleetPolicy("main", LEASE)).dispose()


# --------------------------------------------------------------------------- members

def test_reports_round_trip_with_the_database_clock_in_name_order(fleet: Fleet) -> None:
    store = fleet.store()
    store.join("b", 25.0)
    fleet.at(T0 + 5.0)
    store.join("a", 25.0, "host:a", stake_balance=300.0)
    fleet.at(T0 + 7.5)
    held = [Position("ETH/USD", 1.5, 2000.0, 12.5), Position("BTC/USD", 0.25, 60000.0)]
    store.report("b", 25.0, held)
    assert store.members() == [Member("a", 25.0, (), T0 + 5.0),
                               Member("b", 25.0, tuple(held), T0 + 7.5)]
    assert fleet.rows("SELECT bot, instance, stake_balance FROM trader247_fleet_member "
                      "ORDER BY bot") == [("a", "host:a", 300.0), ("b", "", 0.0)]


def test_joining_again_keeps_the_last_report_and_balance_unless_given(fleet: Fleet) -> None:
    store = fleet.store()
    store.join("a", 25.0, "host:1", stake_balance=500.0)
    store.report("a", 25.0, [Position("BTC/USD", 1.0, 100.0)])
    fleet.at(T0 + 3.0)
    store.join("a", 25.0, "host:1")  # /reload_config: no balance known yet
    assert store.members() == [Member("a", 25.0, (Position("BTC/USD", 1.0, 100.0),), T0 + 3.0)]
    assert fleet.rows("SELECT stake_balance FROM trader247_fleet_member") == [(500.0,)]
    store.join("a", 25.0, "host:1", stake_balance=0.0)
    assert fleet.rows("SELECT stake_balance FROM trader247_fleet_member") == [(0.0,)]


@pytest.mark.parametrize(("age", "refused"), [(0.0, True), (LEASE, True), (LEASE + 0.01, False)])
def test_a_name_run_by_another_process_is_refused_within_the_lease(
        fleet: Fleet, age: float, refused: bool) -> None:
    store = fleet.store()
    store.join("a", 25.0, "host1:100")
    fleet.at(T0 + age)
    if not refused:
        store.join("a", 25.0, "host2:200")  # the old process was killed: a restart joins
        assert fleet.rows("SELECT instance FROM trader247_fleet_member") == [("host2:200",)]
        return
    with pytest.raises(FleetConfigError) as raised:
        store.join("a", 25.0, "host2:200")
    assert str(raised.value) == (
        f"fleet 'main': bot_name 'a' is already a member, run by host1:100 (last report "
        f"{age:.0f} s ago): every bot of a fleet needs its own bot_name; a restarted bot joins "
        "once that report is older than lease_seconds (30 s)")


@pytest.mark.parametrize(("first", "second"), [
    ("host1:100", "host1:100"),  # the same process again (/reload_config)
    ("", "host2:200"),  # a member written without an instance (an older release)
    ("host1:100", ""),  # a caller that names no instance is not checked
])
def test_the_same_process_or_an_unnamed_one_joins(fleet: Fleet, first: str, second: str) -> None:
    store = fleet.store()
    store.join("a", 25.0, first)
    store.join("a", 25.0, second)
    assert fleet.rows("SELECT instance FROM trader247_fleet_member") == [(second,)]


def test_a_clean_stop_frees_the_name_and_drops_only_its_own_lease(fleet: Fleet) -> None:
    store = fleet.store()
    store.join("a", 25.0, "host1:100")
    store.join("b", 25.0, "host:b")
    store.report("a", 25.0, [Position("BTC/USD", 1.0, 100.0)])
    assert store.lead("b").bot == "b"
    store.leave("a", "host1:100")
    assert store.lead("a").bot == "b"  # a's leaving did not drop b's lease
    store.join("a", 25.0, "host2:200")  # at once, not after the lease
    (a, _b) = store.members()
    assert a.positions == (Position("BTC/USD", 1.0, 100.0),)  # its coins keep counting
    store.leave("b", "host:b")
    assert store.lead("a") == Leader("a", T0 + LEASE, 1)  # b's lease is gone: a takes it now


def test_leaving_under_an_old_instance_does_not_free_the_new_process_name(fleet: Fleet) -> None:
    store = fleet.store()
    store.join("a", 25.0, "host1:100")
    fleet.at(T0 + LEASE + 1.0)
    store.join("a", 25.0, "host2:200")
    store.leave("a", "host1:100")  # the old process's late shutdown
    with pytest.raises(FleetConfigError, match="run by host2:200"):
        store.join("a", 25.0, "host3:300")


# --------------------------------------------------------------------------- heartbeat

def test_a_heartbeat_reports_releases_what_it_carries_and_reads_the_fleet(fleet: Fleet) -> None:
    a, b = fleet.store(), fleet.store()
    a.join("a", 25.0, stake_balance=100.0)
    b.join("b", 25.0, stake_balance=200.0)
    first, second = grant(a, "a", 10.0), grant(b, "b", 20.0, pair="ETH/USD")
    fleet.at(T0 + 4.0)
    beat = a.heartbeat("a", 25.0, [Position("BTC/USD", 0.1, 100.0)], [first.reservation_id],
                       stake_balance=990.0)
    assert beat.now == T0 + 4.0
    assert beat.balances == {"a": 990.0, "b": 200.0}
    assert beat.members == [Member("a", 25.0, (Position("BTC/USD", 0.1, 100.0),), T0 + 4.0),
                            Member("b", 25.0, (), T0)]
    assert beat.reservations == [Reservation("b", "ETH/USD", 20.0, T0 + LEASE)]
    assert second.reservation_id is not None
    assert a.heartbeat("a", 25.0, [], ()).balances == {"a": 0.0, "b": 200.0}


@pytest.mark.parametrize(("age", "live"), [(LEASE - 0.01, True), (LEASE, False)])
def test_a_heartbeat_reads_only_reservations_within_their_lease(fleet: Fleet, age: float,
                                                                live: bool) -> None:
    store = fleet.store()
    store.join("a", 25.0)
    grant(store, "a", 40.0)
    fleet.at(T0 + age)
    beat = store.heartbeat("a", 25.0, [])
    assert beat.reservations == ([Reservation("a", "BTC/USD", 40.0, T0 + LEASE)] if live else [])
    assert len(fleet.rows("SELECT id FROM trader247_fleet_reservation")) == int(live)


@pytest.mark.parametrize(("age", "live"), [(LEASE - 0.01, True), (LEASE, False)])
def test_a_reservation_lives_for_one_lease(fleet: Fleet, age: float, live: bool) -> None:
    store = fleet.store()
    store.join("a", 25.0)
    granted = grant(store, "a", 230.0)
    assert granted.decision.stake == pytest.approx(230.0)
    assert store.reservations() == [Reservation("a", "BTC/USD", 230.0, T0 + LEASE)]
    fleet.at(T0 + age)
    # the headroom it held is back once it expired, and the grant clears the expired row
    assert (grant(store, "a", 10.0).decision.stake is None) is live
    assert fleet.rows("SELECT stake FROM trader247_fleet_reservation ORDER BY id") == (
        [(230.0,)] if live else [(10.0,)])
    assert store.reservations() == ([Reservation("a", "BTC/USD", 230.0, T0 + LEASE)] if live
                                    else [Reservation("a", "BTC/USD", 10.0, T0 + age + LEASE)])


def test_release_frees_one_reservation_of_one_fleet(fleet: Fleet) -> None:
    main, other = fleet.store(), fleet.store("other")
    main.join("a", 25.0)
    other.join("a", 25.0)
    kept, freed = grant(main, "a", 50.0), grant(main, "a", 60.0, pair="ETH/USD")
    elsewhere = grant(other, "a", 70.0)
    main.release(freed.reservation_id)
    assert [r.stake for r in main.reservations()] == [50.0]
    assert [r.stake for r in other.reservations()] == [70.0]
    assert kept.reservation_id != elsewhere.reservation_id
    fleet.at(T0 + LEASE)
    assert main.reservations() == []
    # each fleet reads (and deletes) only its own expired reservations
    assert fleet.rows("SELECT fleet, stake FROM trader247_fleet_reservation") == [
        ("other", 70.0)]


# --------------------------------------------------------------------------- the gate

def test_a_grant_measures_every_report_once_and_this_bots_positions_fresh(fleet: Fleet) -> None:
    store = fleet.store()
    store.join("a", 25.0)
    store.join("b", 25.0)
    store.report("a", 25.0, [Position("BTC/USD", 1.0, 100.0)])  # stale: $100
    store.report("b", 25.0, [Position("ETH/USD", 5.0, 10.0)])  # $50
    fresh = [Position("BTC/USD", 1.5, 100.0, 10.0)]  # $150 + $10 entering
    got = grant(store, "a", 1000.0, balance=790.0, positions=fresh)
    # equity 790 + 150 + 50 = 990; at risk 210; 23 % of 990 = 227.7 -> 17.7 granted
    assert got.exposure.equity == pytest.approx(990.0)
    assert got.exposure.at_risk == pytest.approx(210.0)
    assert got.decision.stake == pytest.approx(17.7)
    assert fleet.rows("SELECT bot, pair, stake, expires_at FROM trader247_fleet_reservation") == [
        ("a", "BTC/USD", pytest.approx(17.7), T0 + LEASE)]
    # without fresh positions the last report counts, and the reservation just granted too
    again = grant(store, "a", 1000.0, balance=790.0)
    assert again.exposure.at_risk == pytest.approx(100.0 + 50.0 + 17.7)


@pytest.mark.parametrize(("state", "min_stake", "stake"), [
    (CapState.ACTIVE, None, 0.5),  # the headroom left, however small
    (CapState.ACTIVE, 0.5, 0.5),  # at the exchange's minimum
    (CapState.ACTIVE, 0.51, None),  # under it: refused
    (CapState.REDUCING, None, None),  # REDUCING: no entry, whatever the headroom
])
def test_a_grant_honours_the_cap_state_and_the_minimum_stake(
        fleet: Fleet, state: CapState, min_stake: float | None, stake: float | None) -> None:
    store = fleet.store()
    store.join("a", 25.0)
    got = store.reserve("a", "BTC/USD", stake_balance=770.5, cap_policy=CAP, state=state,
                        requested=100.0, min_stake=min_stake, max_stake=1e9,
                        positions=[Position("ETH/USD", 1.0, 229.5)])  # 23 % of $1000: $0.5 left
    assert got.decision.stake == (None if stake is None else pytest.approx(stake))
    assert (got.reservation_id is None) is (stake is None)


def test_a_refused_entry_holds_nothing(fleet: Fleet) -> None:
    store = fleet.store()
    store.join("a", 25.0)
    store.report("a", 25.0, [Position("BTC/USD", 2.5001, 100.0)])  # one cent over 25 %
    refused = grant(store, "a", 10.0, balance=749.99)
    assert refused.decision.stake is None and refused.reservation_id is None
    assert refused.exposure.at_risk == pytest.approx(250.01)  # the operator's message reads it
    assert refused.exposure.equity == pytest.approx(1000.0)
    assert refused.decision.reason.startswith("FLEET_OVER_CAP")
    assert store.reservations() == []


def test_dry_run_adds_every_other_members_last_balance(fleet: Fleet) -> None:
    store = fleet.store()
    store.join("a", 25.0, stake_balance=5000.0)  # this bot's stale balance: not added
    store.join("b", 25.0, stake_balance=400.0)
    store.join("c", 25.0, stake_balance=600.0)
    got = grant(store, "a", 1e6, balance=1000.0, add_member_balances=True)
    assert got.exposure.equity == pytest.approx(2000.0)
    assert got.decision.stake == pytest.approx(460.0)  # 23 % of 2000
    alone = grant(store, "a", 1e6, balance=1000.0, add_member_balances=False)
    assert alone.exposure.equity == pytest.approx(1000.0)
    # live (the default): the balance given is the account's, shared by every member
    default = store.reserve("a", "BTC/USD", stake_balance=1000.0, cap_policy=CAP,
                            state=CapState.ACTIVE, requested=1.0, min_stake=None, max_stake=1e9)
    assert default.exposure.equity == pytest.approx(1000.0)


# --------------------------------------------------------------------------- leader and rounds

def round_of(*orders: TrimOrder) -> dict[str, tuple[TrimOrder, ...]]:
    found: dict[str, list[TrimOrder]] = {}
    for order in orders:
        bot, _, pair = order.pair.partition("|")
        found.setdefault(bot, []).append(TrimOrder(pair, order.stake_to_sell, order.amount,
                                                   order.reason, order.full_exit))
    return {bot: tuple(o) for bot, o in found.items()}


def test_the_lease_is_renewed_by_its_holder_and_taken_once_expired(fleet: Fleet) -> None:
    store = fleet.store()
    assert store.lead("a") == Leader("a", T0 + LEASE, 1)
    fleet.at(T0 + 10.0)
    assert store.lead("a") == Leader("a", T0 + 10.0 + LEASE, 1)  # renewed, same term
    fleet.at(T0 + 10.0 + LEASE - 0.01)
    assert store.lead("b") == Leader("a", T0 + 10.0 + LEASE, 1)
    fleet.at(T0 + 10.0 + LEASE)
    assert store.lead("b") == Leader("b", T0 + 10.0 + 2 * LEASE, 2)
    assert fleet.rows("SELECT bot, lease_until, term FROM trader247_fleet_leader") == [
        ("b", T0 + 10.0 + 2 * LEASE, 2)]


@pytest.mark.parametrize(("at", "published"), [(T0 + LEASE - 0.01, 2), (T0 + LEASE, 0)])
def test_a_round_is_published_only_while_the_lease_is_valid(fleet: Fleet, at: float,
                                                            published: int) -> None:
    store = fleet.store()
    leader = store.lead("a")
    fleet.at(at)
    orders = round_of(TrimOrder("a|BTC/USD", 10.0, 0.1, "TRIM: a"),
                      TrimOrder("b|ETH/USD", 5.0, 0.5, "TRIM: b", True))
    assert store.publish_round(leader, orders) == published
    assert len(store.take_trims("b")) == published // 2


def test_an_earlier_term_of_the_same_bot_cannot_publish(fleet: Fleet) -> None:
    store = fleet.store()
    old = store.lead("a")
    fleet.at(T0 + LEASE)
    store.lead("b")
    fleet.at(T0 + 2 * LEASE)
    now = store.lead("a")
    assert now.term == 3
    orders = round_of(TrimOrder("a|BTC/USD", 10.0, 0.1, "TRIM"))
    assert store.publish_round(old, orders) == 0
    assert store.publish_round(Leader("b", now.lease_until, 3), orders) == 0
    assert store.publish_round(now, orders) == 1


def test_each_bot_takes_its_own_trims_of_the_newest_round_once(fleet: Fleet) -> None:
    store = fleet.store()
    leader = store.lead("a")
    first = round_of(TrimOrder("a|BTC/USD", 10.0, 0.1, "TRIM: one"),
                     TrimOrder("b|ETH/USD", 5.0, 0.5, "TRIM: one"))
    assert store.publish_round(leader, first) == 2
    assert store.take_trims("a") == (TrimOrder("BTC/USD", 10.0, 0.1, "TRIM: one"),)
    fleet.at(T0 + 1.0)
    second = round_of(TrimOrder("b|SOL/USD", 3.0, 30.0, "TRIM: two", True),
                      TrimOrder("c|BTC/USD", 1.5, 0.015, "TRIM: two"))
    assert store.publish_round(leader, second) == 2
    # b's untaken trim of the first round is replaced, not handed out too
    assert store.take_trims("b") == (TrimOrder("SOL/USD", 3.0, 30.0, "TRIM: two", True),)
    assert store.take_trims("b") == ()
    assert store.publish_round(leader, {}) == 0  # an empty round clears what is left
    assert store.take_trims("c") == ()
    assert fleet.rows("SELECT bot, term, planned_at, taken_at FROM trader247_fleet_trim "
                      "ORDER BY id") == [("a", 1, T0, T0), ("b", 1, T0 + 1.0, T0 + 1.0)]


def test_dispose_closes_the_connections(fleet: Fleet) -> None:
    store = fleet.store()
    store.members()
    assert store._engine.pool.checkedin() == 1
    store.dispose()
    assert store._engine.pool.checkedin() == 0


def test_positions_are_stored_as_the_documented_json(fleet: Fleet) -> None:
    """Other tools (and an older release of ours) read the member rows: [pair, amount, mark,
    open entry stake] per position."""
    store = fleet.store()
    store.report("a", 25.0, [Position("BTC/USD", 0.5, 100.0, 7.0)])
    ((body,),) = fleet.rows("SELECT positions FROM trader247_fleet_member")
    assert json.loads(body) == [["BTC/USD", 0.5, 100.0, 7.0]]
