"""The fleet store on a real PostgreSQL server: racing reservations, leases, rounds taken once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from tests.shipped import shipped_cap_policy

from trader247.adapters.fleet_store import FleetConfigError, FleetStore, FleetUnavailable
from trader247.core.exposure import CapState, Position
from trader247.core.fleet import FleetPolicy
from trader247.core.trims import TrimOrder

CAP = shipped_cap_policy()  # 25 %, target 23 %


@pytest.fixture
def store(postgres_url: str) -> Iterator[FleetStore]:
    found = FleetStore.connect(postgres_url, FleetPolicy("main", lease_seconds=1.0))
    yield found
    found.dispose()


@pytest.fixture
def racing_store(postgres_url: str) -> Iterator[FleetStore]:
    """A lease far longer than any race: with the 1 s lease, a race slowed down (a loaded
    machine, `make mutation`'s tracing) saw its first reservations expire and granted $60."""
    found = FleetStore.connect(postgres_url, FleetPolicy("main", lease_seconds=600.0))
    yield found
    found.dispose()


def test_sqlite_url_is_refused_naming_the_key() -> None:
    with pytest.raises(FleetConfigError, match=r"fleet.db_url: a fleet needs PostgreSQL.*'sqlite'"):
        FleetStore.connect("sqlite:///bot.sqlite", FleetPolicy("main", 30.0))


def test_unreachable_server_is_one_clear_error() -> None:
    from trader247.cli.processes import free_port

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=2"
    with pytest.raises(FleetUnavailable, match="fleet.db_url: fleet database unreachable"):
        FleetStore.connect(url, FleetPolicy("main", 30.0))


def test_racing_reservations_never_spend_more_than_the_headroom(racing_store: FleetStore) -> None:
    """3 bots x 70 racing entries of $1 on $1000 with $200 held: $30 of headroom to 23 %."""
    store = racing_store
    for bot in ("a", "b", "c"):
        store.join(bot, 25.0)
    store.report("a", 25.0, [Position("BTC/USD", 100.0, 2.0)])
    granted: list[float] = []
    lock = threading.Lock()

    def racer(bot: str) -> None:
        for i in range(70):
            grant = store.reserve(bot, f"P{i}/USD", stake_balance=800.0, cap_policy=CAP,
                                  state=CapState.ACTIVE, requested=1.0, min_stake=0.5,
                                  max_stake=1e9)
            if grant.decision.stake is not None:
                with lock:
                    granted.append(grant.decision.stake)

    threads = [threading.Thread(target=racer, args=(b,)) for b in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == pytest.approx(30.0)
    assert len(granted) == 30  # every $1 up to the headroom, none after it
    assert sum(r.stake for r in store.reservations()) == pytest.approx(30.0)
    store.dispose()


def test_reservations_expire_with_their_lease_and_release_frees_them(store: FleetStore) -> None:
    store.join("a", 25.0)
    first = store.reserve("a", "BTC/USD", stake_balance=1000.0, cap_policy=CAP,
                          state=CapState.ACTIVE, requested=230.0, min_stake=1.0, max_stake=1e9)
    assert first.decision.stake == pytest.approx(230.0) and first.reservation_id
    blocked = store.reserve("a", "ETH/USD", stake_balance=1000.0, cap_policy=CAP,
                            state=CapState.ACTIVE, requested=10.0, min_stake=1.0, max_stake=1e9)
    assert blocked.decision.stake is None
    store.release(first.reservation_id)
    assert store.reservations() == []
    again = store.reserve("a", "ETH/USD", stake_balance=1000.0, cap_policy=CAP,
                          state=CapState.ACTIVE, requested=10.0, min_stake=1.0, max_stake=1e9)
    assert again.decision.stake == pytest.approx(10.0)
    time.sleep(1.1)  # the 1 s lease: a bot killed before placing its entry frees the headroom
    assert store.reservations() == []


def test_a_second_bot_with_another_cap_is_refused(store: FleetStore) -> None:
    store.join("a", 25.0)
    with pytest.raises(FleetConfigError, match=r"fleet 'main': bot 'b' runs .* 30 .*'a' runs 25"):
        store.join("b", 30.0)


def test_leader_lease_is_taken_over_after_expiry(store: FleetStore) -> None:
    first = store.lead("a")
    assert (first.bot, first.term) == ("a", 1)
    assert store.lead("b").bot == "a"  # a holds an unexpired lease
    time.sleep(1.1)
    taken = store.lead("b")
    assert (taken.bot, taken.term) == ("b", 2)
    # The old leader's round is refused: it no longer holds the lease.
    assert store.publish_round(first, {"a": (TrimOrder("BTC/USD", 1.0, 0.5, "r"),)}) == 0


def test_each_trim_is_taken_once(store: FleetStore) -> None:
    leader = store.lead("a")
    orders = {"a": (TrimOrder("BTC/USD", 10.0, 0.1, "TRIM"),),
              "b": (TrimOrder("BTC/USD", 5.0, 0.05, "TRIM"), TrimOrder("ETH/USD", 5.0, 1.0, "T"))}
    assert store.publish_round(leader, orders) == 3
    taken: list[tuple[TrimOrder, ...]] = []
    threads = [threading.Thread(target=lambda: taken.append(store.take_trims("b")))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.pair for found in taken for o in found) == ["BTC/USD", "ETH/USD"]
    assert store.take_trims("a") == (TrimOrder("BTC/USD", 10.0, 0.1, "TRIM"),)
    assert store.take_trims("a") == ()
