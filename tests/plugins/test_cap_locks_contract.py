"""The ``EXPOSURE_OVER_CAP`` lock on freqtrade's own lock store (``cap_locks.LockSync``).

What an operator reads in ``/locks`` and FreqUI's Pair Locks: one global lock from the moment the
cap went REDUCING, 24 hours long and renewed an hour before it would end, its reason the current
at-risk, and ended (not deleted) at the moment the cap is ACTIVE again. Both of freqtrade's stores
are used: the database (dry-run / live; every change committed, so a restart or FreqUI's other
session sees it) and the in-memory list (backtesting).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from freqtrade.exchange import timeframe_to_next_date
from freqtrade.persistence import PairLocks, Trade, init_db
from freqtrade.persistence.pairlock import PairLock

from trader247.adapters.cap_locks import LockSync

NOW = datetime(2025, 6, 1, 10, tzinfo=UTC)  # on a 1h candle: freqtrade rounds lock ends up
REASON = "EXPOSURE_OVER_CAP: at_risk=29.2% cap=25.0% target=23.0%"
LATER = "EXPOSURE_OVER_CAP: at_risk=27.4% cap=25.0% target=23.0%"


@pytest.fixture(params=["database", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[str]:
    """freqtrade's lock store: the database of dry-run / live, or the list of backtests."""
    if request.param == "database":
        init_db("sqlite://")
        PairLocks.use_db = True
    else:
        PairLocks.use_db = False
        PairLocks.reset_locks()
    PairLocks.timeframe = "1h"
    yield request.param
    PairLocks.use_db = False
    PairLocks.reset_locks()
    PairLocks.use_db = True
    PairLocks.timeframe = ""
    if request.param == "database":
        Trade.session.remove()


@pytest.fixture
def database() -> Iterator[None]:
    init_db("sqlite://")
    PairLocks.use_db = True
    PairLocks.timeframe = "1h"
    yield
    PairLocks.timeframe = ""
    Trade.session.remove()


def candle_after(moment: datetime) -> datetime:
    """freqtrade ends a lock at the candle after the end asked for (``lock_pair``)."""
    return timeframe_to_next_date("1h", moment)


def every_lock() -> list[PairLock]:
    return list(PairLocks.get_all_locks())


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)  # sqlite hands datetimes back without their zone


def delete_lock(lock: PairLock) -> None:
    """What FreqUI's delete button does (freqtrade's ``RPC._rpc_delete_lock``)."""
    lock.active = False
    if PairLocks.use_db:
        PairLock.session.commit()


def on_disk() -> list[PairLock]:
    """The locks as committed: what is not committed is rolled back first."""
    PairLock.session.rollback()
    return every_lock()


# ------------------------------------------------------------------ placing
@pytest.mark.parametrize("watch", [True, False])
def test_the_lock_is_global_from_now_for_24_hours_with_the_reason(store: str, watch: bool) -> None:
    locks = LockSync(watch=watch)
    assert locks.sync(REASON, NOW) == "placed"
    (lock,) = every_lock()
    assert (lock.pair, lock.side, lock.reason, lock.active) == ("*", "*", REASON, True)
    assert utc(lock.lock_time) == NOW
    assert lock.lock_end_time_utc == candle_after(NOW + timedelta(hours=24))
    assert locks.locked_until == NOW + timedelta(hours=24) and locks.reason == REASON
    assert PairLocks.is_global_lock(NOW + timedelta(hours=23, minutes=59))


@pytest.mark.parametrize("watch", [True, False])
@pytest.mark.parametrize(("after", "renewed"), [
    (timedelta(hours=22, minutes=59, seconds=59), False),  # more than an hour left: kept
    (timedelta(hours=23), True),                           # exactly an hour left: renewed
])
def test_the_lock_is_renewed_an_hour_before_it_would_end(
        store: str, watch: bool, after: timedelta, renewed: bool) -> None:
    locks = LockSync(watch=watch)
    locks.sync(REASON, NOW)
    assert locks.sync(REASON, NOW + after) is None  # renewing is not news
    ends = sorted(lock.lock_end_time_utc for lock in every_lock())
    first = candle_after(NOW + timedelta(hours=24))
    assert ends == ([first, candle_after(NOW + after + timedelta(hours=24))] if renewed
                    else [first])
    if renewed:
        assert locks.locked_until == NOW + after + timedelta(hours=24)
    # the episode stays locked past the first lock's end only when it was renewed
    assert PairLocks.is_global_lock(first + timedelta(minutes=30)) is renewed


def test_a_lock_placed_again_after_its_deletion_is_said_to_be_restored(store: str) -> None:
    locks = LockSync(watch=True)
    locks.sync(REASON, NOW)
    delete_lock(every_lock()[0])
    assert locks.sync(REASON, NOW + timedelta(seconds=5)) == "restored"
    active = PairLocks.get_pair_locks("*", NOW + timedelta(seconds=5))
    assert [(lock.reason, lock.lock_end_time_utc) for lock in active] == [
        (REASON, candle_after(NOW + timedelta(seconds=5, hours=24)))]


# ------------------------------------------------------------------ a lock already there
@pytest.mark.parametrize("watch", [True, False])
def test_a_lock_already_in_the_store_is_adopted_not_doubled(store: str, watch: bool) -> None:
    """A restarted bot (or freqtrade's ExposureCap protection) finds the lock already placed:
    it is the same episode, so nothing is placed and nothing is told."""
    ends = NOW + timedelta(hours=5)
    PairLocks.lock_pair("*", ends, LATER, now=NOW - timedelta(hours=1))
    locks = LockSync(watch=watch)
    assert locks.sync(REASON, NOW) is None
    assert len(every_lock()) == 1
    assert locks.locked_until == candle_after(ends) and locks.reason == REASON
    # dry-run / live show the current at-risk in the lock; backtests leave the row alone
    assert every_lock()[0].reason == (REASON if watch else LATER)


def test_the_reason_shown_follows_the_at_risk_and_is_committed(database: None) -> None:
    locks = LockSync(watch=True)
    locks.sync(REASON, NOW)
    assert locks.sync(LATER, NOW + timedelta(seconds=5)) is None
    assert [lock.reason for lock in on_disk()] == [LATER]
    assert locks.reason == LATER


def test_only_the_global_lock_with_the_caps_word_is_the_caps(store: str) -> None:
    """Other global locks (a protection's) and a pair lock with the same words are not ours."""
    PairLocks.lock_pair("*", NOW + timedelta(hours=2), "StoplossGuard: 4 stops", now=NOW)
    PairLocks.lock_pair("BTC/USD", NOW + timedelta(hours=2), REASON, now=NOW)
    locks = LockSync(watch=True)
    assert locks.sync(REASON, NOW) == "placed"
    assert locks.sync(None, NOW + timedelta(minutes=1)) == "lifted"
    still = PairLocks.get_pair_locks(None, NOW + timedelta(minutes=1))
    assert sorted((lock.pair, lock.reason) for lock in still) == [
        ("*", "StoplossGuard: 4 stops"), ("BTC/USD", REASON)]


# ------------------------------------------------------------------ lifting
def test_lifting_ends_the_lock_at_that_moment_and_commits_it(database: None) -> None:
    locks = LockSync(watch=True)
    locks.sync(REASON, NOW)
    lifted_at = NOW + timedelta(hours=2, minutes=17)
    assert locks.sync(None, lifted_at) == "lifted"
    (lock,) = on_disk()
    assert lock.active is False
    assert lock.lock_end_time_utc == lifted_at  # the lock's span is the REDUCING episode
    assert locks.locked_until is None and locks.reason is None
    assert locks.sync(None, lifted_at + timedelta(seconds=5)) is None


def test_lifting_in_a_backtest_ends_the_row_at_the_candle_time(store: str) -> None:
    locks = LockSync(watch=False)
    locks.sync(REASON, NOW)
    assert locks.sync(None, NOW + timedelta(hours=3)) == "lifted"
    (lock,) = every_lock()
    assert lock.active is False and lock.lock_end_time_utc == NOW + timedelta(hours=3)
    assert PairLocks.get_pair_locks("*", NOW + timedelta(hours=1)) == []


def test_a_lock_the_protection_placed_is_lifted_and_told(store: str) -> None:
    PairLocks.lock_pair("*", NOW + timedelta(hours=5), REASON, now=NOW)
    assert LockSync(watch=True).sync(None, NOW) == "lifted"
    assert PairLocks.get_pair_locks("*", NOW) == []


def test_an_active_bot_does_not_read_the_store_every_iteration(store: str) -> None:
    """ACTIVE and already checked: the store is not read (per-candle cost in backtests)."""
    locks = LockSync(watch=True)
    assert locks.sync(None, NOW) is None
    PairLocks.lock_pair("*", NOW + timedelta(hours=5), REASON, now=NOW)
    assert locks.sync(None, NOW + timedelta(seconds=5)) is None
    assert len(PairLocks.get_pair_locks("*", NOW + timedelta(seconds=5))) == 1


# ------------------------------------------------------------------ a new backtest run
def test_a_new_backtest_run_starts_without_a_lock_of_its_own(store: str) -> None:
    """Hyperopt epochs run the same strategy again from the first candle (``reset``)."""
    locks = LockSync(watch=False)
    locks.sync(REASON, NOW)
    locks.reset()
    assert (locks.locked_until, locks.reason) == (None, None)
    # the previous run's lock is read again and lifted on the first ACTIVE candle
    assert locks.sync(None, NOW) == "lifted"
    locks.reset()
    # an empty store: the next REDUCING episode's lock is a new one, not a restored one
    assert locks.sync(REASON, NOW) == "placed"


# ------------------------------------------------------------------ what is committed
@pytest.fixture
def commits(store: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each commit of freqtrade's lock session, counted (backtests have no session to commit)."""
    made: list[str] = []
    if store == "database":
        session = PairLock.session
        real = session.commit
        monkeypatch.setattr(session, "commit", lambda: made.append("commit") or real())
    else:
        monkeypatch.setattr(PairLock, "session", type("NoSession", (), {
            "commit": staticmethod(lambda: made.append("commit"))}), raising=False)
    return made


def test_a_calm_reducing_episode_commits_nothing(store: str, commits: list[str]) -> None:
    """The shown reason is written only when its text changes, and only to the database."""
    locks = LockSync(watch=True)
    locks.sync(REASON, NOW)
    commits.clear()
    for seconds in (5, 10, 15):
        assert locks.sync(REASON, NOW + timedelta(seconds=seconds)) is None
    assert commits == []
    locks.sync(LATER, NOW + timedelta(seconds=20))
    assert commits == (["commit"] if store == "database" else [])


def test_lifting_commits_only_locks_it_ended_and_only_to_the_database(
        store: str, commits: list[str]) -> None:
    assert LockSync(watch=True).sync(None, NOW) is None  # nothing to lift: nothing written
    assert commits == []
    locks = LockSync(watch=False)
    locks.sync(REASON, NOW)
    commits.clear()
    assert locks.sync(None, NOW + timedelta(hours=1)) == "lifted"
    assert commits == (["commit"] if store == "database" else [])


def test_a_lock_deleted_before_the_cap_is_active_again_is_still_told_lifted(store: str) -> None:
    """Entries stayed blocked by the state after the deletion: their end is still news."""
    locks = LockSync(watch=False)
    assert locks.sync(REASON, NOW) == "placed"
    (lock,) = every_lock()
    delete_lock(lock)
    assert locks.sync(None, NOW + timedelta(hours=1)) == "lifted"
    assert locks.sync(None, NOW + timedelta(hours=2)) is None
