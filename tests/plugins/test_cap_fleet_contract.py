"""``adapters.cap_fleet`` at its boundaries, against a store that answers what the test says.

The PostgreSQL store itself is pinned by test_fleet_store_contract.py; here is what the cap's
fleet part does with its answers, in memory and fast: which reservations a heartbeat releases
(only those granted before the iteration read its trades), the account it measures (every
member once, this bot fresh, the balance shared or summed, external holdings net of the other
members' coins), when a published trim counts as filled, what is handed to the controller, and
the operator's text of every outage, recovery and round.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from tests.shipped import shipped_cap_policy

from trader247.adapters.cap_controller import CapController
from trader247.adapters.cap_fleet import CANNOT_SELL, CapFleet, fleet_min_stakes
from trader247.adapters.fleet_store import Beat, FleetUnavailable, Grant
from trader247.core.exposure import CapState, EntryDecision, Position, Snapshot
from trader247.core.fleet import FleetPolicy, Leader, Member, Reservation
from trader247.core.trims import TrimOrder

CAP = shipped_cap_policy(trim_interval_cycles=1)  # 25 %, band 2 -> target 23 %
DB_NOW = 5_000.0  # the database's clock
LOCAL_NOW = 9_000.0  # this machine's clock (used only while the database is away)
LEASE = 30.0
OUTAGE = "fleet database: OperationalError: connection refused"
DOWN_LOG = (f"FLEET_UNAVAILABLE: {OUTAGE}; no new entries until it answers (exits and this "
            "bot's taken trims go on)")
UP_LOG = "FLEET_AVAILABLE again: entries go through the fleet's gate"


class Store:
    """The store's surface CapFleet uses; records every call, fails while ``down``."""

    def __init__(self) -> None:
        self.policy = FleetPolicy("main", LEASE)
        self.calls: list[tuple[str, Any]] = []
        self.down = False
        self.beat = Beat([], [], DB_NOW, {})
        self.next_id = 1
        self.stake: float | None = 50.0
        self.leader = Leader("a", DB_NOW + LEASE, 7)
        self.published = 1
        self.trims: tuple[TrimOrder, ...] = ()

    def _call(self, name: str, args: Any) -> None:
        self.calls.append((name, args))
        if self.down:
            raise FleetUnavailable(OUTAGE)

    def named(self, name: str) -> list[Any]:
        return [args for called, args in self.calls if called == name]

    def join(self, *args: Any) -> None:
        self._call("join", args)

    def leave(self, *args: Any) -> None:
        self._call("leave", args)

    def dispose(self) -> None:
        self.calls.append(("dispose", ()))

    def heartbeat(self, *args: Any) -> Beat:
        self._call("heartbeat", args)
        return self.beat

    def reserve(self, *args: Any, **kwargs: Any) -> Grant:
        self._call("reserve", (args, kwargs))
        if self.stake is None:
            return Grant(EntryDecision(None, "FLEET_OVER_CAP: no"), "exposure", None)  # type: ignore[arg-type]
        self.next_id += 1
        return Grant(EntryDecision(self.stake, "granted"), "exposure", self.next_id - 1)  # type: ignore[arg-type]

    def lead(self, bot: str) -> Leader:
        self._call("lead", bot)
        return self.leader

    def publish_round(self, leader: Leader, per_bot: dict[str, tuple[TrimOrder, ...]]) -> int:
        self._call("publish_round", (leader, per_bot))
        return self.published

    def take_trims(self, bot: str) -> tuple[TrimOrder, ...]:
        self._call("take_trims", bot)
        return self.trims


def make(store: Store, *, shared_wallet: bool = True, bot: str = "a") -> CapFleet:
    return CapFleet(store, bot, 25.0, "host:1", lambda: LOCAL_NOW,  # type: ignore[arg-type]
                    shared_wallet=shared_wallet)


def controller() -> CapController:
    return CapController(policy=CAP, stake_currency="USD", cycle_seconds=5.0)


def entry(fleet: CapFleet, pair: str = "BTC/USD", own: Snapshot | None = None) -> EntryDecision:
    return fleet.reserve(pair, own or Snapshot(1000.0), CapState.ACTIVE, controller(),
                         requested=100.0, min_stake=2.0, max_stake=500.0)


# --------------------------------------------------------------------------- reservations

def test_a_heartbeat_releases_only_the_reservations_granted_before_the_iteration_began() -> None:
    """An entry granted while the loop runs is not in the trades it read: its reservation must
    keep counting until the NEXT heartbeat, which carries it."""
    store = Store()
    fleet = make(store)
    assert entry(fleet).stake == 50.0  # reservation 1, before the iteration
    fleet.begin_iteration()
    entry(fleet)  # reservation 2: granted after the trades were read
    fleet.account(Snapshot(1000.0), controller())
    fleet.begin_iteration()
    fleet.account(Snapshot(1000.0), controller())
    fleet.begin_iteration()
    fleet.account(Snapshot(1000.0), controller())
    assert [args[3] for args in store.named("heartbeat")] == [(1,), (2,), ()]


def test_a_failed_heartbeat_releases_nothing_and_the_next_one_does() -> None:
    store = Store()
    fleet = make(store)
    entry(fleet)
    fleet.begin_iteration()
    store.down = True
    fleet.account(Snapshot(1000.0), controller())
    store.down = False
    fleet.begin_iteration()
    fleet.account(Snapshot(1000.0), controller())
    assert [args[3] for args in store.named("heartbeat")] == [(1,), (1,)]


def test_a_refused_entry_holds_no_reservation() -> None:
    store = Store()
    store.stake = None
    fleet = make(store)
    assert entry(fleet).reason == "FLEET_OVER_CAP: no"
    fleet.begin_iteration()
    fleet.account(Snapshot(1000.0), controller())
    assert store.named("heartbeat")[0][3] == ()


@pytest.mark.parametrize("shared_wallet", [True, False])
def test_the_gate_gets_this_bots_balance_positions_and_the_callers_limits(
        shared_wallet: bool) -> None:
    store = Store()
    fleet = make(store, shared_wallet=shared_wallet)
    own = Snapshot(800.0, (Position("BTC/USD", 2.0, 100.0, 5.0),))
    ctl = controller()
    decision, exposure = fleet.reserve_measured("ETH/USD", own, CapState.REDUCING, ctl,
                                                requested=120.0, min_stake=3.0, max_stake=400.0)
    assert (decision, exposure) == (EntryDecision(50.0, "granted"), "exposure")
    assert fleet.reserve("ETH/USD", own, CapState.REDUCING, ctl, requested=120.0,
                         min_stake=3.0, max_stake=400.0) == EntryDecision(50.0, "granted")
    assert store.named("reserve") == 2 * [(("a", "ETH/USD"), {
        "stake_balance": 800.0, "cap_policy": ctl.policy, "state": CapState.REDUCING,
        "requested": 120.0, "min_stake": 3.0, "max_stake": 400.0, "positions": own.positions,
        "add_member_balances": not shared_wallet})]


# --------------------------------------------------------------------------- the account

def test_the_account_is_every_other_members_report_and_this_bot_fresh() -> None:
    store = Store()
    store.beat = Beat(
        members=[Member("a", 25.0, (Position("BTC/USD", 9.0, 100.0),), DB_NOW - 5),  # stale a
                 Member("b", 25.0, (Position("ETH/USD", 2.0, 10.0),), DB_NOW - 1),
                 Member("c", 25.0, (), DB_NOW - 2)],
        reservations=[Reservation("b", "SOL/USD", 7.0, DB_NOW + 0.01),
                      Reservation("c", "BTC/USD", 8.0, DB_NOW)],  # expired at the db clock
        now=DB_NOW, balances={"a": 1.0, "b": 2.0})
    fleet = make(store)
    own = Snapshot(600.0, (Position("BTC/USD", 1.0, 100.0, 4.0),))
    account = fleet.account(own, controller())
    assert store.named("heartbeat") == [("a", 25.0, own.positions, (), 600.0)]
    assert account == Snapshot(600.0, (
        Position("b|ETH/USD", 2.0, 10.0), Position("a|BTC/USD", 1.0, 100.0, 4.0),
        Position("b|SOL/USD#reserved", 0.0, 0.0, 7.0)))
    assert fleet.last_account == account
    assert (fleet.members, fleet.reservations) == (3, 1)


def test_alone_the_fleet_counts_one_member_and_no_reservation() -> None:
    fleet = make(Store())
    fleet.account(Snapshot(100.0), controller())
    assert (fleet.members, fleet.reservations) == (1, 0)


@pytest.mark.parametrize(("shared_wallet", "balance"), [(True, 500.0), (False, 500.0 + 300.0)])
def test_the_account_balance_is_shared_live_and_summed_in_dry_run(shared_wallet: bool,
                                                                 balance: float) -> None:
    """Dry-run: the other members' last reported wallets are added, never this bot's own."""
    store = Store()
    store.beat = Beat([], [], DB_NOW, {"a": 10_000.0, "b": 100.0, "c": 200.0})
    fleet = make(store, shared_wallet=shared_wallet)
    assert fleet.account(Snapshot(500.0), controller()).stake_balance == balance


@pytest.mark.parametrize(("external", "others_held", "left"), [
    (100.0, 30.0, 70.0),  # the other members' coins are not this bot's external holdings
    (30.0, 30.0, 0.0),
    (20.0, 30.0, 0.0),  # never below 0
])
def test_external_holdings_are_net_of_the_other_members_positions(
        external: float, others_held: float, left: float) -> None:
    store = Store()
    store.beat = Beat([Member("b", 25.0, (Position("ETH/USD", others_held / 10, 10.0),), DB_NOW)],
                      [], DB_NOW, {})
    fleet = make(store)
    own = Snapshot(500.0, (Position("BTC/USD", 1.0, 100.0),), external_holdings_value=external)
    assert fleet.account(own, controller()).external_holdings_value == pytest.approx(left)


def test_while_the_database_is_away_the_last_members_count_on_the_local_clock(
        caplog: pytest.LogCaptureFixture) -> None:
    """Fail closed: one warning per episode, the last members seen and this bot fresh; a
    reservation seen last is judged on this machine's clock (expired here)."""
    store = Store()
    store.beat = Beat([Member("b", 25.0, (Position("ETH/USD", 2.0, 10.0),), DB_NOW)],
                      [Reservation("b", "SOL/USD", 7.0, LOCAL_NOW + 1.0),
                       Reservation("b", "BTC/USD", 9.0, LOCAL_NOW)], DB_NOW, {})
    fleet = make(store)
    fleet.account(Snapshot(1000.0), controller())
    store.down = True
    caplog.set_level(logging.INFO, logger="trader247.adapters.cap_fleet")
    for _ in range(2):
        account = fleet.account(Snapshot(900.0, (Position("BTC/USD", 1.0, 100.0),)), controller())
        assert entry(fleet).reason == ("FLEET_UNAVAILABLE: pair=BTC/USD (no entries until the "
                                       "fleet database answers)")
        assert fleet.reserve_measured("BTC/USD", Snapshot(900.0), CapState.ACTIVE, controller(),
                                      requested=1.0, min_stake=None, max_stake=9.0)[1] is None
    assert [p.pair for p in account.positions] == ["b|ETH/USD", "a|BTC/USD",
                                                   "b|SOL/USD#reserved"]
    assert fleet.reservations == 1 and fleet.available is False and fleet.is_leader is False
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("WARNING", DOWN_LOG)]
    store.down = False
    caplog.clear()
    fleet.account(Snapshot(900.0), controller())
    fleet.account(Snapshot(900.0), controller())
    assert fleet.available
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("WARNING", UP_LOG)]


@pytest.mark.parametrize("recovers_by", ["reserve", "account"])
def test_an_entry_or_a_heartbeat_that_answers_ends_the_outage(
        recovers_by: str, caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    fleet = make(store)
    store.down = True
    caplog.set_level(logging.INFO, logger="trader247.adapters.cap_fleet")
    entry(fleet)
    store.down = False
    if recovers_by == "reserve":
        assert entry(fleet).stake == 50.0
    else:
        fleet.account(Snapshot(1000.0), controller())
    assert fleet.available
    assert [r.getMessage() for r in caplog.records] == [DOWN_LOG, UP_LOG]


def test_stale_bots_are_the_other_members_past_the_lease_on_the_database_clock() -> None:
    store = Store()
    store.beat = Beat([Member("a", 25.0, (), 0.0),  # this bot: never stale to itself
                       Member("b", 25.0, (), DB_NOW - LEASE),
                       Member("c", 25.0, (), DB_NOW - LEASE - 0.01)], [], DB_NOW, {})
    fleet = make(store)
    assert fleet.stale_bots() == set()
    fleet.account(Snapshot(1000.0), controller())
    assert fleet.stale_bots() == {"c"}


# --------------------------------------------------------------------------- rounds

OVER_CAP = Snapshot(700.0, (Position("BTC/USD", 0.5, 600.0),))  # $300 of $1000: 30 %


def _iteration(fleet: CapFleet, ctl: CapController, own: Snapshot) -> Snapshot:
    fleet.begin_iteration()
    account = fleet.account(own, ctl)
    ctl.evaluate(account, 0.0, DB_NOW)
    fleet.round(ctl, DB_NOW)
    return account


def _published_trim(caplog: pytest.LogCaptureFixture) -> tuple[Store, CapFleet, CapController]:
    store = Store()
    fleet, ctl = make(store), controller()
    caplog.set_level(logging.INFO, logger="trader247.adapters.cap_fleet")
    _iteration(fleet, ctl, OVER_CAP)
    assert list(ctl.trim_state.open_trims) == ["a|BTC/USD"]
    return store, fleet, ctl


def test_the_leader_publishes_its_plan_records_it_placed_and_tells_the_operator(
        caplog: pytest.LogCaptureFixture) -> None:
    store, fleet, ctl = _published_trim(caplog)
    assert fleet.is_leader
    ((leader, per_bot),) = store.named("publish_round")
    assert leader == Leader("a", DB_NOW + LEASE, 7)
    assert list(per_bot) == ["a"] and per_bot["a"][0].pair == "BTC/USD"
    assert per_bot["a"][0].stake_to_sell == pytest.approx(70.0)
    assert caplog.messages == ["fleet: round of 1 trim(s) published (term 7): a|BTC/USD"]


def test_a_round_of_several_trims_names_each(caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    store.beat = Beat([Member("b", 25.0, (Position("ETH/USD", 20.0, 10.0),), DB_NOW)], [],
                      DB_NOW, {})
    fleet, ctl = make(store), controller()
    caplog.set_level(logging.INFO, logger="trader247.adapters.cap_fleet")
    _iteration(fleet, ctl, Snapshot(500.0, (Position("BTC/USD", 0.5, 600.0),)))
    assert caplog.messages == [
        "fleet: round of 2 trim(s) published (term 7): a|BTC/USD,b|ETH/USD"]
    ((_leader, per_bot),) = store.named("publish_round")
    assert sorted(per_bot) == ["a", "b"]


@pytest.mark.parametrize("why", ["another leader", "lease moved on", "unavailable"])
def test_a_bot_that_does_not_hold_the_lease_publishes_nothing(why: str) -> None:
    store = Store()
    fleet, ctl = make(store), controller()
    if why == "another leader":
        store.leader = Leader("b", DB_NOW + LEASE, 2)
    elif why == "lease moved on":
        store.published = 0  # publish_round refused: the lease expired meanwhile
    _iteration(fleet, ctl, OVER_CAP)
    if why == "unavailable":
        store.down = True
        fleet.round(ctl, DB_NOW)  # lead fails: down
        store.down = False
        fleet.leader = Leader("a", DB_NOW + LEASE, 7)
        ctl.trim_state = controller().trim_state
        store.calls.clear()
        assert not fleet.is_leader
        fleet.round(ctl, DB_NOW)  # no round while the fleet is marked away
        assert store.calls == []
        return
    assert not fleet.is_leader or why == "lease moved on"
    assert len(store.named("publish_round")) == (1 if why == "lease moved on" else 0)
    assert ctl.trim_state.open_trims == {}


def test_no_plan_no_orders_publishes_nothing() -> None:
    store = Store()
    fleet, ctl = make(store), controller()
    fleet.round(ctl, DB_NOW)  # never evaluated
    _iteration(fleet, ctl, Snapshot(1000.0))  # evaluated, nothing to trim
    assert store.named("publish_round") == []
    assert len(store.named("take_trims")) == 2


@pytest.mark.parametrize(("after", "filled"), [
    (0.5, False),  # nothing sold yet
    (0.5 * (1 - 1e-9), False),  # a rounding of the amount is no sale
    (0.4999, True),
    (None, True),  # the position is gone: sold in full
])
def test_a_published_trim_is_filled_once_the_members_amount_drops(
        caplog: pytest.LogCaptureFixture, after: float | None, filled: bool) -> None:
    _store, fleet, ctl = _published_trim(caplog)
    positions = () if after is None else (Position("BTC/USD", after, 600.0),)
    fleet.begin_iteration()
    fleet.account(Snapshot(700.0, positions), ctl)
    assert ctl.trim_state.filled == int(filled)
    assert ("a|BTC/USD" in ctl.trim_state.open_trims) is not filled


def test_a_published_trim_is_settled_once() -> None:
    store = Store()
    fleet, ctl = make(store), controller()
    _iteration(fleet, ctl, OVER_CAP)
    fleet.account(Snapshot(700.0, (Position("BTC/USD", 0.3, 600.0),)), ctl)
    store.leader = Leader("b", DB_NOW + LEASE, 8)  # no new round from a
    ctl.trim_placed(TrimOrder("a|BTC/USD", 10.0, 0.01, "TRIM"), DB_NOW)  # placed by hand
    fleet.account(Snapshot(700.0, (Position("BTC/USD", 0.1, 600.0),)), ctl)
    assert ctl.trim_state.filled == 1  # the second trim is not the published one


def test_a_trim_published_before_any_heartbeat_settles_only_by_its_timeout() -> None:
    """No account seen yet: the amount before is unknown (0), so no drop can settle it."""
    store = Store()
    fleet, ctl = make(store), controller()
    ctl.evaluate(Snapshot(700.0, (Position("a|BTC/USD", 0.5, 600.0),)), 0.0, DB_NOW)
    fleet.leader = Leader("a", DB_NOW + LEASE, 7)
    fleet.round(ctl, DB_NOW)
    assert list(ctl.trim_state.open_trims) == ["a|BTC/USD"]
    fleet.account(Snapshot(700.0, (Position("BTC/USD", 0.25, 600.0),)), ctl)
    assert ctl.trim_state.filled == 0


def test_a_trim_that_expired_is_forgotten_not_filled(caplog: pytest.LogCaptureFixture) -> None:
    _store, fleet, ctl = _published_trim(caplog)
    ctl.trim_state = controller().trim_state  # expired (re-planned) meanwhile
    fleet.account(Snapshot(700.0, ()), ctl)
    ctl.trim_placed(TrimOrder("a|BTC/USD", 10.0, 0.1, "TRIM"), DB_NOW)
    fleet.account(Snapshot(700.0, ()), ctl)
    assert ctl.trim_state.filled == 0


def test_each_bot_hands_its_taken_trims_to_its_controller_and_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    store.leader = Leader("b", DB_NOW + LEASE, 2)
    store.trims = (TrimOrder("BTC/USD", 10.0, 0.1, "TRIM: x"),
                   TrimOrder("ETH/USD", 5.0, 0.5, "TRIM: y", True))
    fleet, ctl = make(store), controller()
    caplog.set_level(logging.INFO, logger="trader247.adapters.cap_fleet")
    fleet.round(ctl, DB_NOW)
    assert store.named("lead") == ["a"] and store.named("take_trims") == ["a"]
    assert ctl.trim_for("ETH/USD") == store.trims[1]
    assert ctl.trim_for("BTC/USD") == store.trims[0]
    assert caplog.messages == ["fleet: 2 trim(s) of this bot's trades taken: BTC/USD,ETH/USD"]


def test_an_outage_in_a_round_takes_nothing_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    store.down = True
    fleet, ctl = make(store), controller()
    caplog.set_level(logging.INFO, logger="trader247.adapters.cap_fleet")
    fleet.round(ctl, DB_NOW)
    assert not fleet.available and store.named("take_trims") == []
    assert caplog.messages == [DOWN_LOG]


# --------------------------------------------------------------------------- join / leave

def test_join_registers_this_process_with_its_wallet() -> None:
    store = Store()
    make(store).join(123.0)
    make(store).join()
    assert store.named("join") == [("a", 25.0, "host:1", 123.0), ("a", 25.0, "host:1", None)]


def test_leaving_while_the_database_is_away_warns_and_still_closes(
        caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    store.down = True
    caplog.set_level(logging.INFO, logger="trader247.adapters.cap_fleet")
    make(store).leave()
    assert store.calls == [("leave", ("a", "host:1")), ("dispose", ())]
    assert caplog.messages == [f"fleet: could not leave cleanly ({OUTAGE}); the name frees "
                               "after the lease"]
    store.down = False
    caplog.clear()
    make(store).leave()
    assert caplog.messages == []


# --------------------------------------------------------------------------- min stakes

def test_a_pair_the_exchange_has_no_minimum_for_gets_zero_and_dust_is_left_out() -> None:
    snapshot = Snapshot(0.0, (Position("a|BTC/USD", 1.0, 1.0), Position("b|XYZ/USD", 1.0, 1.0),
                              Position("c|ETH/USD", 0.0, 1.0)))
    found = fleet_min_stakes(lambda s: {"BTC/USD": 10.0}, lambda: {"c"})(snapshot)
    assert found == {"a|BTC/USD": 10.0, "b|XYZ/USD": 0.0}
    assert fleet_min_stakes(lambda s: {}, lambda: {"a"})(snapshot)["a|BTC/USD"] == CANNOT_SELL


def test_a_member_process_is_named_host_colon_pid() -> None:
    """What the operator reads in "run by ..." when a second process takes the same name."""
    import os
    import socket

    from trader247.adapters.cap_fleet import this_instance

    assert this_instance() == f"{socket.gethostname()}:{os.getpid()}"


@pytest.mark.parametrize(("state", "min_stake"), [(CapState.REDUCING, 7.5), (CapState.ACTIVE, None)])
def test_an_entry_asks_the_fleet_with_the_cap_state_and_the_exchanges_minimum(
        state: CapState, min_stake: float | None) -> None:
    store = Store()
    fleet, ctl = make(store), controller()
    fleet.reserve("SOL/USD", Snapshot(900.0), state, ctl, requested=10.0, min_stake=min_stake,
                  max_stake=20.0)
    ((_args, kwargs),) = store.named("reserve")
    assert (kwargs["state"], kwargs["min_stake"], kwargs["max_stake"]) == (state, min_stake, 20.0)
