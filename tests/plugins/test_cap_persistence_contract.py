"""``adapters.cap_persistence``: the cap state restored at start (and trims that filled while
the bot was down settled), written after each change, and what the operator reads when the
database refuses. freqtrade's own database in memory (``init_db("sqlite://")``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from freqtrade.persistence import Order, Trade, init_db
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from tests.shipped import shipped_cap_policy

from trader247.adapters import cap_persistence
from trader247.adapters.cap_controller import CapController
from trader247.adapters.cap_persistence import (
    REPORT_EVERY_SECONDS,
    STATE_KEY,
    CapStatePersistence,
    trim_fills,
)
from trader247.adapters.state_store import StateStore, StateWriteError
from trader247.core.exposure import CapState
from trader247.core.trims import OpenTrim

from .test_interrupts import outcome

PLACED = datetime(2025, 6, 1, 12, tzinfo=UTC)
LOGGER = "trader247.adapters.cap_persistence"


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    init_db("sqlite://")
    yield
    Trade.session.remove()


def controller() -> CapController:
    return CapController(shipped_cap_policy(), "USD", cycle_seconds=5.0)


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def saved_state(open_trims: tuple[str, ...], cycle: int = 7) -> str:
    cap = controller()
    cap.cycle = cycle
    cap.trim_state = replace(cap.trim_state, cap_state=CapState.REDUCING, open_trims={
        pair: OpenTrim(placed_at=PLACED.timestamp(), stake=50.0, cycle=cycle)
        for pair in open_trims})
    return json.dumps(cap.to_dict())


def trim_order(amount: float, *, filled: float, status: str, at: datetime,
               tag: str | None = "trim") -> Order:
    return Order(ft_order_side="sell", ft_pair="", ft_is_open=status == "open",
                 ft_amount=amount, ft_price=100.0, order_id=f"o-{amount}-{at.timestamp()}",
                 status=status, side="sell", order_type="market", amount=amount, price=100.0,
                 average=100.0 if filled else None, filled=filled, remaining=amount - filled,
                 cost=filled * 100.0, order_date=at,
                 order_filled_date=at if filled else None, ft_order_tag=tag)


def trade(pair: str, *orders: Order, is_open: bool = True) -> Trade:
    row = Trade(pair=pair, base_currency=pair.split("/")[0], stake_currency="USD",
                exchange="coinbase", is_open=is_open, open_date=PLACED - timedelta(hours=1),
                open_rate=100.0, amount=3.0, stake_amount=300.0, fee_open=0.0, fee_close=0.0,
                amount_precision=1e-8, price_precision=1e-2, precision_mode=4, leverage=1.0)
    for item in orders:
        item.ft_pair = pair
        row.orders.append(item)
    Trade.session.add(row)
    Trade.commit()
    return row


# ------------------------------------------------------------------ restore at start


def test_nothing_saved_starts_fresh_silently(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    cap = controller()
    persistence = CapStatePersistence(StateStore.of_freqtrade())
    assert persistence.restore(cap) is False
    persistence.restore_and_settle(cap)
    assert cap.cycle == 0 and lines(caplog) == []


@pytest.mark.parametrize(("stored", "why"), [
    ("not json", "Expecting value: line 1 column 1 (char 0)"),
    ("{}", "'trim_state'"),
    ("[]", "list indices must be integers or slices, not str"),
    ('{"trim_state": {"version": 2}}', "trim state version must be 1, got 2"),
])
def test_an_unreadable_state_is_logged_and_the_bot_starts_fresh(
        caplog: pytest.LogCaptureFixture, stored: str, why: str) -> None:
    store = StateStore.of_freqtrade()
    store.save(STATE_KEY, stored)
    cap = controller()
    assert CapStatePersistence(store).restore(cap) is False
    assert cap.cycle == 0 and cap.trim_state.open_trims == {}
    assert lines(caplog) == [
        (logging.ERROR, f"cap state in the database is unreadable ({why}): starting fresh")]


def test_a_database_that_cannot_be_read_is_logged_and_the_bot_starts_fresh(
        caplog: pytest.LogCaptureFixture) -> None:
    store = StateStore(create_engine("sqlite:////nonexistent-dir/state.sqlite"))
    assert CapStatePersistence(store).restore(controller()) is False
    ((level, line),) = lines(caplog)
    assert level == logging.ERROR
    assert line.startswith("cap state could not be read ((sqlite3.OperationalError) unable to "
                           "open database file")
    assert line.endswith("): starting fresh")


class ReadFails:
    """A state store whose read fails as a server gone fails, with a SIGTERM inside the read
    (``interrupted``: freqtrade's handler raised ``KeyboardInterrupt`` there) or without."""

    def __init__(self, interrupted: bool) -> None:
        self.interrupted = interrupted

    def load(self, key: str, *, legacy_key: str | None = None) -> str | None:
        gone = Exception("server closed the connection unexpectedly")
        if self.interrupted:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                raise OperationalError("SELECT", {}, gone)  # noqa: B904 - the chain is the point
        raise OperationalError("SELECT", {}, gone)


@pytest.mark.parametrize(("interrupted", "shutting_down", "expected"), [
    (True, False, KeyboardInterrupt),  # the SIGTERM stops the bot, not "starting fresh"
    (False, False, None),              # a failed read: logged, the bot starts fresh
    (True, True, KeyboardInterrupt),   # a second SIGTERM inside the read
    (False, True, None),               # the interrupt already on its way out is not raised again
])
def test_an_interrupt_hidden_in_a_failed_read_propagates(
        interrupted: bool, shutting_down: bool, expected: type | None) -> None:
    persistence = CapStatePersistence(ReadFails(interrupted))  # type: ignore[arg-type]
    assert outcome(lambda: persistence.restore(controller()),
                   shutting_down=shutting_down) is expected


def test_a_restart_settles_the_trims_the_orders_table_shows_filled(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    store = StateStore.of_freqtrade()
    store.save(STATE_KEY, saved_state(("BTC/USD", "ETH/USD", "SOL/USD")))
    later = PLACED + timedelta(seconds=30)
    trade("BTC/USD", trim_order(0.5, filled=0.5, status="closed", at=later))
    trade("ETH/USD", trim_order(0.5, filled=0.0, status="open", at=later))  # still working
    trade("SOL/USD", trim_order(3.0, filled=3.0, status="closed", at=later), is_open=False)
    cap = controller()
    CapStatePersistence(store).restore_and_settle(cap)
    assert cap.cycle == 7 and sorted(cap.trim_state.open_trims) == ["ETH/USD"]
    assert cap.trim_state.filled == 2
    assert lines(caplog) == [
        (logging.INFO, "cap state: trims filled before the restart: BTC/USD,SOL/USD"),
        (logging.INFO, "cap state restored: cycle=7 open_trims=['ETH/USD'] state=REDUCING")]


def test_a_restart_with_nothing_filled_says_only_what_it_restored(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    store = StateStore.of_freqtrade()
    store.save(STATE_KEY, saved_state(("ETH/USD",), cycle=3))
    cap = controller()
    CapStatePersistence(store).restore_and_settle(cap)
    assert lines(caplog) == [
        (logging.INFO, "cap state restored: cycle=3 open_trims=['ETH/USD'] state=REDUCING")]


@pytest.mark.parametrize(("orders", "fill"), [
    # the newest filled trim order
    ((("trim", 0.5, 0.5, "closed", 10), ("trim", 0.5, 0.5, "closed", 40)), 40),
    # partly filled, then cancelled: not a complete fill (trim_settlement.settle_trims makes it
    # partial at the first iteration)
    ((("trim", 0.5, 0.2, "canceled", 10),), None),
    # not a trim; a trim that filled nothing; a trim still open
    ((("exit_signal", 0.5, 0.5, "closed", 10), ("trim", 0.5, 0.0, "canceled", 20),
      ("trim", 0.5, 0.0, "open", 30)), None),
])
def test_trim_fills_are_closed_filled_trim_orders(
        orders: tuple[tuple[str, float, float, str, int], ...], fill: int | None) -> None:
    trade("BTC/USD", *(trim_order(amount, filled=filled, status=status, tag=tag,
                                  at=PLACED + timedelta(seconds=at))
                       for tag, amount, filled, status, at in orders))
    trade("ETH/USD", trim_order(0.5, filled=0.5, status="closed", at=PLACED))
    expected = {} if fill is None else {"BTC/USD": PLACED.timestamp() + fill}
    assert trim_fills(["BTC/USD"]) == expected


# ------------------------------------------------------------------ persist


class FlakyStore:
    """A state store whose writes fail while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.saved: list[str] = []

    def save(self, key: str, value: str) -> None:
        if self.down:
            raise StateWriteError("OperationalError: disk I/O error")
        self.saved.append(value)


def test_failed_writes_are_counted_and_reported_at_most_once_a_minute(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(cap_persistence, "time", SimpleNamespace(monotonic=lambda: clock.now))
    caplog.set_level(logging.INFO)
    store, cap = FlakyStore(), controller()
    persistence = CapStatePersistence(store)  # type: ignore[arg-type]
    assert persistence.persist(cap) is True and store.saved == [json.dumps(cap.to_dict())]
    store.down = True

    def report(failures: int) -> tuple[int, str]:
        return (logging.ERROR, f"CAP_STATE_NOT_PERSISTED: failures={failures} reason="
                "OperationalError: disk I/O error (the bot keeps running; trims wait until the "
                "state can be written)")

    for now in (0.0, 30.0, REPORT_EVERY_SECONDS - 0.01, REPORT_EVERY_SECONDS):
        clock.now = now  # the first failure is told at once, even right after boot
        assert persistence.persist(cap) is False
    assert lines(caplog) == [report(1), report(4)]  # one minute later, with the count
    store.down = False
    assert persistence.persist(cap) is True
    assert persistence.persist(cap) is True
    assert lines(caplog)[2:] == [(logging.INFO, "cap state persisted again after 4 failed writes")]
    store.down = True
    clock.now = 2 * REPORT_EVERY_SECONDS
    assert persistence.persist(cap) is False
    assert lines(caplog)[3:] == [report(1)]  # a new outage counts from one
