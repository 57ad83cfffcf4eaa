"""``adapters.state_store`` details on SQLite (the engine's behaviour both databases share is in
``test_state_store.py``, which runs on PostgreSQL too): absent keys, the write time, the
upgrade from ``KeyValueStore``, the reason a failed write gives, healing freqtrade's session."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from freqtrade.persistence import KeyValueStore, Trade, init_db
from sqlalchemy import create_engine, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidRequestError, OperationalError, PendingRollbackError

from trader247.adapters.state_store import (
    STATE_TABLE,
    StateStore,
    StateWriteError,
    heal_shared_session,
)

from .test_interrupts import outcome

LOGGER = "trader247.adapters.state_store"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'bot.sqlite'}")
    yield engine
    engine.dispose()


def written_at(engine: Engine, key: str) -> datetime:
    with engine.connect() as connection:
        value: datetime = connection.execute(
            select(STATE_TABLE.c.updated_at).where(STATE_TABLE.c.key == key)).scalar_one()
    return value


def test_an_absent_key_is_none(engine: Engine, tmp_path: Path) -> None:
    assert StateStore(engine).load("absent") is None
    init_db(f"sqlite:///{tmp_path / 'freqtrade.sqlite'}")
    try:  # freqtrade's database: its KeyValueStore has none either
        assert StateStore.of_freqtrade().load("absent", legacy_key="absent too") is None
    finally:
        Trade.session.remove()


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo"])
def test_the_write_time_is_utc_whatever_the_hosts_zone(
        engine: Engine, monkeypatch: pytest.MonkeyPatch, zone: str) -> None:
    """freqtrade stores naive UTC times; so does our table."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        store = StateStore(engine)
        store.save("k", "v1")
        assert abs(written_at(engine, "k") - datetime.now(UTC).replace(tzinfo=None)) < \
            timedelta(minutes=1)
        # a replaced value gets a new write time
        with engine.begin() as connection:
            connection.execute(update(STATE_TABLE).values(updated_at=datetime(2020, 1, 1)))
        store.save("k", "v2")
        assert written_at(engine, "k") > datetime(2025, 1, 1)
    finally:
        monkeypatch.undo()  # the host's zone again
        time.tzset()


def test_the_state_of_an_earlier_version_is_read_once_saying_where_it_moves(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    init_db(f"sqlite:///{tmp_path / 'old.sqlite'}")
    try:
        KeyValueStore.store_value("old_key", '{"cycle": 3}')
        store = StateStore.of_freqtrade()
        caplog.set_level(logging.INFO, logger=LOGGER)
        assert store.load("new_key", legacy_key="old_key") == '{"cycle": 3}'
        assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
            "state new_key: read once from freqtrade's KeyValueStore (written by an earlier "
            "version); it moves to table trader247_state with the next write"]
        store.save("new_key", '{"cycle": 4}')
        assert KeyValueStore.get_string_value("old_key") is None
        assert store.load("new_key", legacy_key="old_key") == '{"cycle": 4}'
    finally:
        Trade.session.remove()


def refuse_writes(engine: Engine, error: Exception) -> None:
    def refuse(*_args: object) -> None:
        raise error

    event.listen(engine, "before_cursor_execute", refuse)


LONG = "could not write block 7 of relation base/16384/2619\n   " + "x" * 400


@pytest.mark.parametrize(("error", "reason"), [
    # the driver's own words, one line, at most 300 characters
    (OperationalError("UPDATE", {}, OSError(LONG)),
     ("OSError: could not write block 7 of relation base/16384/2619 " + "x" * 400)[:300]),
    (OperationalError("UPDATE", {}, OSError("disk  I/O\nerror")), "OSError: disk I/O error"),
    # an error of SQLAlchemy itself (no driver error under it)
    (InvalidRequestError("this  session is\n in a 'prepared' state"),
     "this session is in a 'prepared' state"),
])
def test_a_failed_write_says_why_in_one_line(engine: Engine, error: Exception,
                                             reason: str) -> None:
    store = StateStore(engine)
    store.load("k")  # the table exists: the write itself is refused
    refuse_writes(engine, error)
    with pytest.raises(StateWriteError) as raised:
        store.save("k", "v")
    assert str(raised.value) == reason


# ------------------------------------------------------------------ heal_shared_session


def test_before_freqtrade_opened_its_database_there_is_nothing_to_heal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(Trade, "session", raising=False)
    assert heal_shared_session() is False


@pytest.mark.parametrize(("moment", "error"), [
    ("after_flush", "PendingRollbackError"),  # inside a flush
    ("after_commit", "InvalidRequestError"),  # committed, the session not yet closed
])
def test_a_healed_session_is_told_with_the_error_it_had(
        caplog: pytest.LogCaptureFixture, moment: str, error: str) -> None:
    init_db("sqlite://")
    try:
        session = Trade.session()

        def boom(*_args: object) -> None:
            event.remove(session, moment, boom)
            raise KeyboardInterrupt  # freqtrade's SIGTERM handler

        event.listen(session, moment, boom)
        Trade.session.add(Trade(pair="BTC/USD", stake_amount=10.0, amount=0.1, open_rate=100.0,
                                fee_open=0.0, fee_close=0.0, exchange="coinbase",
                                open_date=datetime.now(UTC), is_open=True))
        with pytest.raises(KeyboardInterrupt):
            Trade.commit()
        caplog.set_level(logging.INFO, logger=LOGGER)
        assert heal_shared_session() is True
        assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
            f"freqtrade's session was interrupted mid-write ({error}): healed before shutdown"]
    finally:
        Trade.session.remove()


class RefusingSession:
    """freqtrade's shared session refusing its first statement as one interrupted mid-write
    does, with a SIGTERM inside that statement too (``interrupted``) or without."""

    def __init__(self, interrupted: bool) -> None:
        self.interrupted = interrupted
        self.statements = 0

    def execute(self, statement: object) -> None:
        self.statements += 1
        if self.statements > 1:
            return
        if self.interrupted:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                raise PendingRollbackError("rollback first")  # noqa: B904 - the chain matters
        raise PendingRollbackError("rollback first")

    def rollback(self) -> None:
        return None


@pytest.mark.parametrize(("interrupted", "shutting_down", "expected"), [
    (True, False, KeyboardInterrupt),  # a new SIGTERM inside the check propagates
    (False, False, None),              # healed
    (True, True, KeyboardInterrupt),
    (False, True, None),               # the shutdown's own interrupt is not raised again
])
def test_an_interrupt_hidden_in_the_sessions_refusal_propagates(
        monkeypatch: pytest.MonkeyPatch, interrupted: bool, shutting_down: bool,
        expected: type | None) -> None:
    session = RefusingSession(interrupted)
    monkeypatch.setattr(Trade, "session", session, raising=False)
    assert outcome(heal_shared_session, shutting_down=shutting_down) is expected
    assert session.statements == (1 if interrupted else 2)  # healed: checked again
