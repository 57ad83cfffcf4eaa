"""The cap's fleet part on a real PostgreSQL server: the account measured as one snapshot, one
round planned by the leader and executed by each bot on its own trades, reservations released by
the next heartbeat, fail-closed entries while the database is away, one member per bot_name."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from tests.shipped import shipped_cap_policy

from trader247.adapters.cap_controller import CapController
from trader247.adapters.cap_fleet import CANNOT_SELL, CapFleet, fleet_min_stakes
from trader247.adapters.fleet_store import FleetConfigError, FleetStore, FleetUnavailable
from trader247.core.exposure import CapState, Position, Snapshot
from trader247.core.fleet import FleetPolicy

CAP = shipped_cap_policy(trim_interval_cycles=1)  # 25 %, band 2 -> target 23 %


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stores(postgres_url: str) -> Iterator[list[FleetStore]]:
    found = [FleetStore.connect(postgres_url, FleetPolicy("main", lease_seconds=30.0))
             for _ in range(3)]
    yield found
    for store in found:
        store.dispose()


def _bot(store: FleetStore, name: str, instance: str | None = None) -> tuple[CapFleet, CapController]:
    fleet = CapFleet(store, name, CAP.max_total_at_risk_pct, instance or f"host:{name}", Clock(),
                     shared_wallet=True)
    fleet.join()
    return fleet, CapController(policy=CAP, stake_currency="USD", cycle_seconds=5.0)


def _loop(fleet: CapFleet, controller: CapController, own: Snapshot) -> Snapshot:
    """What ``CapAdapter.loop`` does with the fleet part, without freqtrade."""
    fleet.begin_iteration()
    account = fleet.account(own, controller)
    controller.evaluate(account, 0.0, 1_000_000.0)
    fleet.round(controller, 1_000_000.0)
    return account


def test_account_is_every_members_positions_and_each_bot_alone_is_under_the_cap(
        stores: list[FleetStore]) -> None:
    """Two bots at 15 % each of a $1000 account: alone under 25 %, together 30 % -> REDUCING."""
    (fa, ca), (fb, cb) = _bot(stores[0], "a"), _bot(stores[1], "b")
    own_a = Snapshot(700.0, (Position("BTC/USD", 1.5, 100.0),))  # $150
    own_b = Snapshot(700.0, (Position("ETH/USD", 15.0, 10.0),))  # $150
    _loop(fb, cb, own_b)
    account = _loop(fa, ca, own_a)
    assert {p.pair for p in account.positions} == {"a|BTC/USD", "b|ETH/USD"}
    exposure = ca.last_exposure
    assert exposure is not None and exposure.at_risk == pytest.approx(300.0)
    assert exposure.equity == pytest.approx(1000.0)
    assert ca.state is CapState.REDUCING


def test_leader_plans_one_round_and_each_bot_trims_only_its_own_trades_once(
        stores: list[FleetStore]) -> None:
    (fa, ca), (fb, cb) = _bot(stores[0], "a"), _bot(stores[1], "b")
    own_a = Snapshot(700.0, (Position("BTC/USD", 1.5, 100.0),))
    own_b = Snapshot(700.0, (Position("ETH/USD", 15.0, 10.0),))
    _loop(fa, ca, own_a)  # a reports first and takes the lease
    assert fa.is_leader
    _loop(fb, cb, own_b)
    assert not fb.is_leader
    _loop(fa, ca, own_a)  # the leader sees both and publishes the round
    _loop(fb, cb, own_b)  # b takes its share
    a_order, b_order = ca.trim_for("BTC/USD"), cb.trim_for("ETH/USD")
    assert a_order is not None and b_order is not None
    # Proportional: $300 held, target $230 -> $70 cut, $35 from each bot.
    assert a_order.stake_to_sell == pytest.approx(b_order.stake_to_sell, rel=1e-6)
    assert a_order.stake_to_sell + b_order.stake_to_sell == pytest.approx(70.0, rel=0.02)
    assert cb.trim_for("BTC/USD") is None and ca.trim_for("ETH/USD") is None
    # Nothing filled yet: the next loops plan no second trim of a position in flight.
    for _ in range(3):
        _loop(fa, ca, own_a)
        _loop(fb, cb, own_b)
        assert ca.trim_for("BTC/USD") is None and cb.trim_for("ETH/USD") is None
    # b's trim fills: the leader settles it from b's report.
    _loop(fb, cb, Snapshot(735.0, (Position("ETH/USD", 11.5, 10.0),)))
    _loop(fa, ca, own_a)
    assert ca.trim_state.filled == 1
    # The next round plans only what is left: $265 held of $965, to 23 % = $43.05 over, minus
    # a's $35 still in flight.
    assert ca.trim_state.open_trims["a|BTC/USD"].stake == pytest.approx(35.0)
    assert ca.trim_state.open_trims["b|ETH/USD"].stake == pytest.approx(43.05 - 35.0)


def test_reservation_counts_until_the_next_heartbeat_carries_the_entry(
        stores: list[FleetStore]) -> None:
    (fa, ca), (fb, cb) = _bot(stores[0], "a"), _bot(stores[1], "b")
    empty = Snapshot(1000.0)
    _loop(fa, ca, empty)
    decision = fa.reserve("BTC/USD", empty, ca.state, ca, requested=100.0, min_stake=1.0,
                          max_stake=1e9)
    assert decision.stake == pytest.approx(100.0)
    # b sees a's reservation: only $130 of headroom to the 23 % target is left... up to the cap.
    b = fb.reserve("ETH/USD", empty, cb.state, cb, requested=500.0, min_stake=1.0, max_stake=1e9)
    assert b.stake is not None and 100.0 + b.stake <= 250.0 + 1e-6
    assert len(stores[0].reservations()) == 2
    # a's next loop reports the filled entry and releases its reservation (one left: b's).
    _loop(fa, ca, Snapshot(900.0, (Position("BTC/USD", 1.0, 100.0),)))
    assert [r.bot for r in stores[0].reservations()] == ["b"]


def test_cap_reached_refuses_the_next_entry_naming_the_fleet(stores: list[FleetStore]) -> None:
    (fa, ca), (fb, cb) = _bot(stores[0], "a"), _bot(stores[1], "b")
    _loop(fa, ca, Snapshot(750.0, (Position("BTC/USD", 2.5, 100.0),)))  # exactly 25 %
    decision = fb.reserve("ETH/USD", Snapshot(750.0), cb.state, cb, requested=1.0,
                          min_stake=0.5, max_stake=1e9)
    assert decision.stake is None and "headroom" in decision.reason
    _loop(fa, ca, Snapshot(749.99, (Position("BTC/USD", 2.5001, 100.0),)))  # one cent over
    decision = fb.reserve("ETH/USD", Snapshot(749.99), cb.state, cb, requested=1.0,
                          min_stake=0.5, max_stake=1e9)
    assert decision.stake is None and decision.reason.startswith("FLEET_OVER_CAP")


class DownStore:
    """A fleet database that stopped answering."""

    def __getattr__(self, name: str) -> Any:
        def fail(*_args: Any, **_kwargs: Any) -> Any:
            raise FleetUnavailable("fleet database: OperationalError: connection refused")
        return fail


def test_database_away_fails_closed_with_one_warning_per_episode(
        stores: list[FleetStore], caplog: pytest.LogCaptureFixture) -> None:
    (fa, ca), (fb, cb) = _bot(stores[0], "a"), _bot(stores[1], "b")
    _loop(fb, cb, Snapshot(700.0, (Position("ETH/USD", 15.0, 10.0),)))
    _loop(fa, ca, Snapshot(1000.0))
    real, fa.store = fa.store, DownStore()  # type: ignore[assignment]
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        account = _loop(fa, ca, Snapshot(800.0, (Position("BTC/USD", 2.0, 100.0),)))
        decision = fa.reserve("SOL/USD", Snapshot(800.0), ca.state, ca, requested=1.0,
                              min_stake=None, max_stake=1e9)
        assert decision.stake is None and decision.reason.startswith("FLEET_UNAVAILABLE")
    # The last members seen stay counted, with a's own positions fresh.
    assert {p.pair: p.amount for p in account.positions} == {"b|ETH/USD": 15.0,
                                                             "a|BTC/USD": 2.0}
    assert ca.state is CapState.REDUCING  # $350 of $1150: over the cap without the database
    warnings = [r.message for r in caplog.records if "FLEET_UNAVAILABLE" in r.getMessage()]
    assert len(warnings) == 1
    fa.store = real
    _loop(fa, ca, Snapshot(800.0, (Position("BTC/USD", 2.0, 100.0),)))
    assert fa.available
    own = Snapshot(800.0, (Position("BTC/USD", 2.0, 100.0),))
    assert fa.reserve("SOL/USD", own, CapState.ACTIVE, ca, requested=1.0,
                      min_stake=None, max_stake=1e9).reason.startswith("FLEET_OVER_CAP")


def test_a_second_process_with_the_same_bot_name_is_refused_until_the_first_leaves(
        stores: list[FleetStore]) -> None:
    first, _ = _bot(stores[0], "a", "host1:100")
    first.account(Snapshot(1000.0), CapController(CAP, "USD", 5.0))
    with pytest.raises(FleetConfigError, match=r"bot_name 'a' is already a member, run by "
                                               r"host1:100"):
        _bot(stores[1], "a", "host2:200")
    _bot(stores[0], "a", "host1:100")  # the same process again (/reload_config)
    first.leave()
    _bot(stores[1], "a", "host2:200")


def test_a_bot_with_another_cap_is_refused_naming_both(stores: list[FleetStore]) -> None:
    _bot(stores[0], "a")
    other = CapFleet(stores[1], "b", 30.0, "host:b", Clock(), shared_wallet=True)
    with pytest.raises(FleetConfigError, match=r"'b' runs max_total_at_risk_pct 30 .*'a' runs 25"):
        other.join()


def test_min_stakes_of_fleet_positions_are_looked_up_by_pair() -> None:
    seen: list[str] = []

    def own(snapshot: Snapshot) -> dict[str, float]:
        seen.extend(p.pair for p in snapshot.positions)
        return {p.pair: 10.0 if p.pair == "BTC/USD" else 1.0 for p in snapshot.positions}

    snapshot = Snapshot(0.0, (Position("a|BTC/USD", 1.0, 1.0), Position("b|ETH/USD", 1.0, 1.0),
                              Position("a|SOL/USD#reserved", 0.0, 0.0, 5.0)))
    assert fleet_min_stakes(own, set)(snapshot) == {"a|BTC/USD": 10.0, "b|ETH/USD": 1.0}
    assert seen == ["BTC/USD", "ETH/USD"]  # a reservation is no market
    stale = fleet_min_stakes(own, lambda: {"b"})(snapshot)
    assert stale["b|ETH/USD"] == CANNOT_SELL and stale["a|BTC/USD"] == 10.0


def test_dry_run_account_is_the_sum_of_the_members_simulated_wallets(
        stores: list[FleetStore]) -> None:
    """Dry-run: each bot simulates its own wallet; the fleet's account is their sum."""
    fa = CapFleet(stores[0], "a", 25.0, "host:a", Clock(), shared_wallet=False)
    fb = CapFleet(stores[1], "b", 25.0, "host:b", Clock(), shared_wallet=False)
    fa.join()
    fb.join()
    ca, cb = (CapController(policy=CAP, stake_currency="USD", cycle_seconds=5.0) for _ in "ab")
    _loop(fb, cb, Snapshot(1000.0))
    account = _loop(fa, ca, Snapshot(800.0, (Position("BTC/USD", 2.0, 100.0),)))
    assert account.stake_balance == pytest.approx(1800.0)
    assert ca.last_exposure is not None and ca.last_exposure.equity == pytest.approx(2000.0)
    _loop(fb, cb, Snapshot(1000.0))  # b has seen a's wallet
    # b may enter up to the account's target: 23 % of $2000 - $200 held = $260, more than 25 %
    # of its own wallet.
    decision = fb.reserve("ETH/USD", Snapshot(1000.0), cb.state, cb, requested=400.0,
                          min_stake=1.0, max_stake=1e9)
    assert decision.stake == pytest.approx(260.0)


def test_the_gate_counts_this_bots_entries_since_its_last_report(
        stores: list[FleetStore]) -> None:
    """An entry made since the last heartbeat has left the balance: it must be in the equity."""
    fa, ca = _bot(stores[0], "a")
    _loop(fa, ca, Snapshot(1000.0))
    # $200 entered since: the balance is $800 now, the report still says nothing held.
    now = Snapshot(800.0, (Position("BTC/USD", 2.0, 100.0),))
    decision = fa.reserve("ETH/USD", now, ca.state, ca, requested=100.0, min_stake=1.0,
                          max_stake=1e9)
    # 23 % of $1000 = $230 - $200 held = $30 (with only the stale report: 23 % of $800 = $184).
    assert decision.stake == pytest.approx(30.0)


def test_a_dead_members_positions_count_but_only_the_living_are_trimmed(
        postgres_url: str) -> None:
    """b was killed holding $300: the account stays over the cap; only a's trades are planned."""
    # The fleet's clock is a row this test moves (the store's time seam): a sleep past a short
    # lease would also let b go stale between its report and the first check on a loaded machine.
    engine = create_engine(postgres_url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE test_clock (at DOUBLE PRECISION)"))
        c.execute(text("INSERT INTO test_clock VALUES (1800000000)"))
    store = FleetStore(engine, FleetPolicy("short", lease_seconds=30.0),
                       clock_sql="SELECT at FROM test_clock")
    store.ensure_schema()
    try:
        fa = CapFleet(store, "a", 25.0, "host:a", Clock(), shared_wallet=True)
        fb = CapFleet(store, "b", 25.0, "host:b", Clock(), shared_wallet=True)
        fa.join()
        fb.join()
        ca, cb = (CapController(policy=CAP, stake_currency="USD", cycle_seconds=5.0)
                  for _ in "ab")
        _loop(fb, cb, Snapshot(700.0, (Position("ETH/USD", 30.0, 10.0),)))
        own_a = Snapshot(500.0, (Position("BTC/USD", 2.0, 100.0),))
        min_stakes = fleet_min_stakes(lambda s: {p.pair: 1.0 for p in s.positions},
                                      fa.stale_bots)
        account = fa.account(own_a, ca)
        assert fa.stale_bots() == set()
        assert set(min_stakes(account).values()) == {1.0}
        with engine.begin() as c:  # b's report ages one second past the lease: b was killed
            c.execute(text("UPDATE test_clock SET at = at + 31"))
        account = fa.account(own_a, ca)
        assert fa.stale_bots() == {"b"}
        assert "b|ETH/USD" in {p.pair for p in account.positions}  # still counted
        ca.evaluate(account, min_stakes(account), 2_000_000.0)
        assert ca.state is CapState.REDUCING
        assert ca.last_plan is not None
        assert [o.pair for o in ca.last_plan.orders] == ["a|BTC/USD"]
    finally:
        store.dispose()


@pytest.mark.parametrize("plans, announced", [(True, True), (False, False)])
def test_only_the_bot_executing_the_plan_announces_the_trim_round(plans: bool,
                                                                  announced: bool) -> None:
    from trader247.adapters.cap_reporter import CapReporter
    from trader247.adapters.observability import Runtime

    sent: list[str] = []
    reporter = CapReporter(send=sent.append, closed_profit=lambda: 0.0, runtime=Runtime())
    controller = CapController(policy=CAP, stake_currency="USD", cycle_seconds=5.0)
    account = Snapshot(600.0, (Position("a|BTC/USD", 2.0, 100.0),
                               Position("b|ETH/USD", 20.0, 10.0)))
    events = controller.evaluate(account, 0.0, 1_000_000.0)
    assert controller.last_plan is not None and controller.last_plan.orders
    reporter.report(controller, events, Snapshot(600.0), 0.0, 1_000_000.0, plans)
    rounds = [text for text in sent if "a|BTC/USD" in text or "b|ETH/USD" in text]
    assert bool(rounds) is announced, sent
