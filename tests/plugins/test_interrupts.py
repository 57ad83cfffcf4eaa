"""Interrupts are never turned into outages ([T] item 3, ``trader247.interrupts``).

The chains are the ones measured: a SIGTERM in SQLAlchemy's ``pool_pre_ping`` surfaced as
psycopg's ``ProgrammingError`` ("can't change 'autocommit' now: connection in transaction status
ACTIVE") with the ``KeyboardInterrupt`` as its ``__context__``; a SIGTERM inside a finalizer was
discarded by Python ("Exception ignored in ...").
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.exc import OperationalError

from trader247.adapters.fleet_store import FleetStore, FleetUnavailable
from trader247.adapters.state_store import StateStore, StateWriteError
from trader247.core.fleet import FleetPolicy
from trader247.interrupts import (
    DEFER_LIMIT_S,
    REDELIVER_S,
    chained_interrupt,
    in_database_code,
    latch_signals,
    raise_if_signalled,
    raise_interrupt,
)

PING_REFUSED = "can't change 'autocommit' now: connection in transaction status ACTIVE"


def raised_while_handling(outer: BaseException, inner: BaseException,
                          cause: bool = False) -> BaseException:
    """``inner`` as Python chains it when raised in ``outer``'s handler (``from`` if cause)."""
    try:
        try:
            raise outer
        except BaseException as handled:
            if cause:
                raise inner from handled
            raise inner  # noqa: B904 - the implicit chain is the point
    except BaseException as caught:
        return caught


def deep_chain() -> BaseException:
    """FleetUnavailable <- (cause) ProgrammingError <- (context) KeyboardInterrupt."""
    ping = raised_while_handling(KeyboardInterrupt(), ValueError(PING_REFUSED))
    return raised_while_handling(ping, FleetUnavailable("fleet database"), cause=True)


@pytest.mark.parametrize("exc, found", [
    (ValueError("plain database error"), None),
    (raised_while_handling(ValueError("a"), OSError("b")), None),
    (raised_while_handling(KeyboardInterrupt(), OSError("ping")), KeyboardInterrupt),
    (raised_while_handling(SystemExit(3), OSError("ping"), cause=True), SystemExit),
    (deep_chain(), KeyboardInterrupt),
    (KeyboardInterrupt(), KeyboardInterrupt),
])
def test_the_interrupt_in_a_chain_is_found(exc: BaseException, found: type | None) -> None:
    interrupt = chained_interrupt(exc, since=None)
    assert (None if interrupt is None else type(interrupt)) is found


def test_an_interrupt_already_on_its_way_out_is_not_raised_again() -> None:
    """freqtrade's shutdown runs in a ``finally`` while its interrupt propagates: a database
    error during the shutdown carries that interrupt, and must stay an outage."""
    shutdown = KeyboardInterrupt()
    error = raised_while_handling(shutdown, OSError("server gone"))
    assert chained_interrupt(error, since=shutdown) is None
    raise_interrupt(error, since=shutdown)  # nothing raised: the caller reports its outage
    # A second SIGTERM inside the shutdown's own request is newer: it propagates.
    second = raised_while_handling(KeyboardInterrupt("second"), OSError("ping"))
    second.__context__.__context__ = shutdown  # type: ignore[union-attr]
    assert chained_interrupt(second, since=shutdown) is second.__context__


def test_a_cyclic_chain_ends() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert chained_interrupt(a, since=None) is None


def test_raise_interrupt_raises_the_original_interrupt() -> None:
    error = deep_chain()
    original = chained_interrupt(error, since=None)
    with pytest.raises(KeyboardInterrupt) as raised:
        raise_interrupt(error, since=None)
    assert raised.value is original


# --- the stores: a hidden interrupt propagates, a plain database error is an outage -------

@pytest.fixture
def fleet(postgres_url: str) -> Iterator[FleetStore]:
    store = FleetStore.connect(postgres_url, FleetPolicy("main", 30.0))
    yield store
    store.dispose()


def failing_ping(fleet: FleetStore, monkeypatch: pytest.MonkeyPatch, *, interrupted: bool) -> None:
    """The next pre-ping fails as measured: psycopg refuses to restore ``autocommit``, with or
    without a SIGTERM inside the ping before it."""
    import psycopg

    dialect: Any = fleet._engine.dialect
    fleet._engine.pool.dispose()  # the next checkout opens, then pings, a connection

    def ping(dbapi_connection: Any) -> bool:
        monkeypatch.undo()  # once
        if interrupted:
            try:
                raise KeyboardInterrupt  # freqtrade's term_handler
            finally:
                raise psycopg.ProgrammingError(PING_REFUSED)
        raise psycopg.ProgrammingError(PING_REFUSED)

    monkeypatch.setattr(dialect, "do_ping", ping)
    fleet.members()  # opens the connection that the next checkout pings


def outcome(call: Callable[[], object], *, shutting_down: bool = False) -> type | None:
    """The type of what ``call`` raised, None if nothing (an interrupt escaping here is a
    result, not the end of the test session). ``shutting_down``: called as freqtrade's
    ``worker.exit()`` calls our cleanup, in a ``finally`` while the SIGTERM's interrupt
    propagates; that interrupt going on after ``call`` returned counts as nothing raised."""
    shutdown = KeyboardInterrupt("the shutdown's own")
    returned = False
    try:
        if shutting_down:
            try:
                raise shutdown
            finally:
                call()
                returned = True
        call()
    except BaseException as exc:  # noqa: BLE001 - the outcome is the result
        return None if exc is shutdown and returned else type(exc)
    return None


@pytest.mark.parametrize("interrupted, shutting_down, expected", [
    (True, False, KeyboardInterrupt),
    (False, False, FleetUnavailable),
    (True, True, KeyboardInterrupt),  # a second SIGTERM, inside the shutdown's own request
    (False, True, FleetUnavailable),  # the shutdown's interrupt is not raised again
])
def test_fleet_store_failed_pre_ping(fleet: FleetStore, monkeypatch: pytest.MonkeyPatch,
                                     interrupted: bool, shutting_down: bool,
                                     expected: type) -> None:
    """An interrupt hidden in the failed ping propagates; a plain failure is an outage, also
    in ``leave`` during freqtrade's shutdown."""
    failing_ping(fleet, monkeypatch, interrupted=interrupted)
    assert outcome(lambda: fleet.leave("a", "host:1"), shutting_down=shutting_down) is expected
    fleet.join("a", 25.0, "host:1")  # the next transaction works: nothing was left broken


def test_fleet_store_outage_names_the_databases_words(
        fleet: FleetStore, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_ping(fleet, monkeypatch, interrupted=False)
    with pytest.raises(FleetUnavailable, match="fleet database: ProgrammingError: can't change"):
        fleet.members()


@pytest.mark.parametrize("interrupted, shutting_down, expected", [
    (True, False, KeyboardInterrupt),
    (False, False, StateWriteError),
    (True, True, KeyboardInterrupt),
    (False, True, StateWriteError),
])
def test_state_store_failed_write(tmp_path: Any, interrupted: bool, shutting_down: bool,
                                  expected: type) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'bot.sqlite'}")
    store = StateStore(engine)
    store.save("k", "v0")

    def refuse(*_args: Any) -> None:
        event.remove(engine, "before_cursor_execute", refuse)
        orig = Exception("server closed the connection unexpectedly")
        if interrupted:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt:
                raise OperationalError("UPDATE", {}, orig)  # noqa: B904
        raise OperationalError("UPDATE", {}, orig)

    event.listen(engine, "before_cursor_execute", refuse)
    assert outcome(lambda: store.save("k", "v1"), shutting_down=shutting_down) is expected
    store.save("k", "v2")
    assert store.load("k") == "v2"
    engine.dispose()


# --- the latch: a signal whose interrupt Python discarded still stops the bot --------------

@pytest.fixture
def freqtrade_handlers() -> Iterator[None]:
    """freqtrade's SIGTERM handler (``term_handler``: raise KeyboardInterrupt) in this process
    for the test; both handlers restored after it."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def term_handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, term_handler)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


# The phenomenon itself: Python reports the discarded interrupt as "unraisable".
LOST_IN_FINALIZER = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


class SignalledInFinalizer:
    """What was measured: the SIGTERM arrives while psycopg's ``__del__`` runs."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGTERM)


@LOST_IN_FINALIZER
def test_without_the_latch_a_signal_in_a_finalizer_is_lost(freqtrade_handlers: None) -> None:
    holder = SignalledInFinalizer()
    del holder  # Python prints "Exception ignored in ... __del__" and drops the interrupt
    raise_if_signalled()  # nothing latched: nothing to raise, the bot would trade on


@LOST_IN_FINALIZER
def test_with_the_latch_a_signal_lost_in_a_finalizer_is_raised_again(
        freqtrade_handlers: None, caplog: pytest.LogCaptureFixture) -> None:
    assert latch_signals() == ["SIGTERM", "SIGINT"]
    raise_if_signalled()  # nothing received yet
    holder = SignalledInFinalizer()
    del holder
    with pytest.raises(KeyboardInterrupt, match="SIGTERM received earlier"):
        raise_if_signalled()
    assert "SIGNAL_LOST: signal=SIGTERM received=1" in caplog.text


def test_the_latch_still_raises_where_the_signal_lands(freqtrade_handlers: None) -> None:
    latch_signals()
    latch_signals()  # /reload_config: the latch is not wrapped twice
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM).received == 1  # type: ignore[union-attr]


def test_the_latch_leaves_default_dispositions_and_other_threads_alone(
        freqtrade_handlers: None) -> None:
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        names: list[list[str]] = []
        worker = threading.Thread(target=lambda: names.append(latch_signals()))
        worker.start()
        worker.join()
        assert names == [[]]
        assert "SIGTERM" not in latch_signals()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _as_module(module: str, body: Callable[[], Any]) -> Any:
    """Call ``body`` from a function whose frame belongs to ``module`` (as SQLAlchemy's do)."""
    namespace: dict[str, Any] = {"__name__": module}
    exec("def flush(body):\n    return body()\n", namespace)  # noqa: S102 - a test frame
    return namespace["flush"](body)


def _frame_of(module: str) -> Any:
    return _as_module(module, lambda: __import__("sys")._getframe(1))


@pytest.mark.parametrize("module, inside", [
    ("sqlalchemy.orm.session", True), ("sqlalchemy", True), ("psycopg.connection", True),
    ("sqlite3.dbapi2", True), ("sqlalchemy_utils", False), ("mysqlite3", False),
    ("freqtrade.persistence.trade_model", False),
])
def test_database_frames_are_told_by_their_top_level_package(module: str, inside: bool) -> None:
    assert in_database_code(_frame_of(module)) is inside
    assert in_database_code(None) is False


def _wait_for_the_interrupt() -> float:
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        time.sleep(5 * REDELIVER_S)
        for _ in range(100):  # a loaded machine: the timer thread's turn may come late
            time.sleep(REDELIVER_S)
    return time.monotonic() - started


def test_a_signal_inside_a_database_call_lands_just_after_it(freqtrade_handlers: None) -> None:
    latch_signals()
    # (make demo, Ctrl-C during freqtrade's Trade.commit(): SQLAlchemy's rollback failed and
    # freqtrade exited 1 with a traceback; the flush itself must finish)
    finished = _as_module("sqlalchemy.orm.session",
                          lambda: (signal.raise_signal(signal.SIGTERM), "flushed")[1])
    assert finished == "flushed"
    latch = signal.getsignal(signal.SIGTERM)
    assert latch.pending  # type: ignore[union-attr]
    assert _wait_for_the_interrupt() < 60
    assert not latch.pending  # type: ignore[union-attr]


def test_a_deferred_signal_is_raised_at_the_next_safe_point_and_only_once(
        freqtrade_handlers: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trader247.interrupts")
    latch_signals()
    _as_module("sqlalchemy.orm.session", lambda: signal.raise_signal(signal.SIGTERM))
    with pytest.raises(KeyboardInterrupt, match="SIGTERM received inside a database call"):
        raise_if_signalled()  # the start of the next bot iteration, before the re-delivery
    assert "signal=SIGTERM arrived inside a database call" in caplog.text
    time.sleep(5 * REDELIVER_S)  # the re-delivery finds nothing waiting: no second interrupt


def test_a_database_call_that_hangs_is_still_interrupted_after_the_limit(
        freqtrade_handlers: None) -> None:
    latch_signals()
    latch = signal.getsignal(signal.SIGTERM)
    now = [100.0]
    latch._clock = lambda: now[0]  # type: ignore[union-attr]

    def hung_call() -> None:
        signal.raise_signal(signal.SIGTERM)  # deferred at t=100
        now[0] = 100.0 + DEFER_LIMIT_S - 0.01
        signal.raise_signal(signal.SIGTERM)  # still deferred, one hundredth under the limit
        now[0] = 100.0 + DEFER_LIMIT_S
        signal.raise_signal(signal.SIGTERM)  # at the limit: raised inside the call

    with pytest.raises(KeyboardInterrupt):
        _as_module("sqlalchemy.engine.base", hung_call)
    assert latch.received == 3 and not latch.pending  # type: ignore[union-attr]
