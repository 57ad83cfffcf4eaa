"""Our state in freqtrade's database on SQLite and PostgreSQL: any size, failures contained.

Every test runs against both databases (``db_url``: a SQLite file and a database of the
session's throw-away PostgreSQL cluster, tests/pg.py).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tests.shipped import shipped_cap_policy

from trader247.adapters.cap_controller import CapController
from trader247.adapters.cap_persistence import STATE_KEY, CapStatePersistence
from trader247.adapters.state_store import StateStore, StateWriteError
from trader247.core.exposure import Position, Snapshot

POLICY_FILE = Path(__file__).resolve().parents[2] / "config" / "policy.yaml"


def controller() -> CapController:
    return CapController(shipped_cap_policy(), "USD", cycle_seconds=5.0)


def big_state() -> CapController:
    """Over the cap with 30 positions: a state far beyond VARCHAR(255)."""
    cap = controller()
    positions = tuple(Position(f"C{i:02d}/USD", 1.0, 10.0) for i in range(30))
    cap.evaluate(Snapshot(600.0, positions), 1.0, now=1000.0)
    for position in positions:
        order = cap.trim_for(position.pair)
        if order is not None:
            assert cap.trim_placed(order, now=1000.0)
    return cap


@pytest.fixture
def freqtrade_db(db_url: str) -> str:
    from freqtrade.persistence import init_db

    init_db(db_url)
    return db_url


def test_a_state_of_any_size_round_trips(freqtrade_db: str) -> None:
    store = StateStore.of_freqtrade()
    value = json.dumps({"blob": "x" * 100_000})
    store.save("k", value)
    store.save("k", value + " ")  # replaced, not duplicated
    assert store.load("k") == value + " "
    assert StateStore(create_engine(freqtrade_db)).load("k") == value + " "  # committed

    cap = big_state()
    saved = json.dumps(cap.to_dict())
    assert len(saved) > 255  # KeyValueStore's VARCHAR(255), which PostgreSQL enforces
    assert CapStatePersistence(store).persist(cap)
    restored = controller()
    assert CapStatePersistence(store).restore(restored)
    assert restored.to_dict() == cap.to_dict()


# Only SQLite: on PostgreSQL earlier versions could never store it (VARCHAR(255)).
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_state_an_earlier_version_left_in_key_value_store_is_read_once_and_moved(
    freqtrade_db: str, caplog: pytest.LogCaptureFixture,
) -> None:
    from freqtrade.persistence import KeyValueStore

    caplog.set_level(logging.INFO)
    old = controller()
    old.cycle = 41
    KeyValueStore.store_value(STATE_KEY, json.dumps(old.to_dict()))
    store = StateStore.of_freqtrade()
    restored = controller()
    assert CapStatePersistence(store).restore(restored) and restored.cycle == 41
    assert "read once from freqtrade's KeyValueStore" in caplog.text
    restored.cycle = 42
    assert CapStatePersistence(store).persist(restored)
    assert KeyValueStore.get_string_value(STATE_KEY) is None  # moved
    assert json.loads(store.load(STATE_KEY, legacy_key=STATE_KEY) or "{}")["cycle"] == 42


def test_a_failed_write_is_reported_and_leaves_freqtrades_session_usable(
    freqtrade_db: str, caplog: pytest.LogCaptureFixture,
) -> None:
    from freqtrade.persistence import KeyValueStore, Trade

    store = StateStore.of_freqtrade()
    store.save("k", "v")
    with store._engine.begin() as connection:  # the table vanishes under the bot
        connection.execute(text("DROP TABLE trader247_state"))
    persistence = CapStatePersistence(store)
    cap = controller()
    assert persistence.persist(cap) is False
    assert persistence.persist(cap) is False
    assert caplog.text.count("CAP_STATE_NOT_PERSISTED: failures=1 reason=") == 1  # rate-limited
    with pytest.raises(StateWriteError):
        store.save("k", "v")
    # freqtrade's own session never saw our failure.
    Trade.session.execute(text("SELECT 1"))
    KeyValueStore.store_value("bot_start_time", "still fine")
    Trade.commit()


def test_the_write_ahead_fails_closed() -> None:
    cap = controller()
    cap.evaluate(Snapshot(600.0, (Position("BTC/USD", 4.0, 100.0),)), 1.0, now=1000.0)
    order = cap.trim_for("BTC/USD")
    assert order is not None
    before = cap.trim_state
    cap.on_change = lambda: False  # the database refused the write
    assert cap.trim_placed(order, now=1000.0) is False
    assert cap.trim_state == before and "BTC/USD" not in cap.trim_state.open_trims
    cap.on_change = lambda: True
    assert cap.trim_placed(order, now=1001.0) is True
    assert "BTC/USD" in cap.trim_state.open_trims


def test_an_unreachable_database_is_a_write_error_not_a_crash(tmp_path: object) -> None:
    store = StateStore(create_engine("sqlite:////nonexistent-dir/state.sqlite"))
    with pytest.raises(StateWriteError, match="OperationalError"):
        store.save("k", "v")


def test_a_key_another_process_inserts_between_update_and_insert_is_replaced(
        postgres_url: str) -> None:
    """Seen with four processes on one PostgreSQL database: all found no row, one inserted
    first, the others failed on the primary key and lost their state. (SQLite cannot race
    here: the update that finds no row already holds the database's write lock.)"""
    from sqlalchemy import event

    engine = create_engine(postgres_url)
    store = StateStore(engine)
    assert store.load("k") is None  # the table exists
    other = create_engine(postgres_url)
    raced: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def other_process_inserts_first(_c: object, _cur: object, statement: str, *_a: object) -> None:
        if statement.lstrip().upper().startswith("INSERT") and not raced:
            raced.append(statement)
            StateStore(other).save("k", "theirs")

    try:
        store.save("k", "ours")
        assert raced  # the race happened
        assert store.load("k") == "ours"
        with engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM trader247_state")).scalar() == 1
    finally:
        engine.dispose()
        other.dispose()


def test_an_insert_refused_for_another_reason_than_a_race_is_the_error_raised(
        db_url: str) -> None:
    """The retry after a conflict updates only: a refusal that is not another process's row
    (here NOT NULL) is still an error, and nothing is stored."""
    store = StateStore(create_engine(db_url))
    with pytest.raises(StateWriteError, match="(?i)not[ -]?null"):
        store.save("k", None)  # type: ignore[arg-type]
    assert store.load("k") is None
