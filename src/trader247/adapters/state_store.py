"""Key-value storage: one table of ours in freqtrade's own database, TEXT values; knows no cap.

The cap's state goes through it (:mod:`~trader247.adapters.cap_persistence`); the fleet's
shared tables are :mod:`~trader247.adapters.fleet_store`.

Why not freqtrade's ``KeyValueStore``: its ``string_value`` is ``VARCHAR(255)``. SQLite ignores
the length, PostgreSQL enforces it: the cap state (a few hundred bytes with a handful of open
trims and cooldowns) failed with ``StringDataRightTruncation`` on the first trim's write-ahead,
left freqtrade's shared session unusable (``PendingRollbackError``) and the bot died.

Decisions:
- Table ``trader247_state``: ``key VARCHAR(64)`` primary key, ``value TEXT`` (unbounded on
  SQLite and PostgreSQL alike, so the state's size cannot matter), ``updated_at``. It is created
  in freqtrade's database (whatever ``--db-url`` says) through freqtrade's SQLAlchemy engine on
  first use, ``IF NOT EXISTS``: no migration step, and ``freqtrade convert-db`` ignores it.
- Reads and writes use a connection of their own from that engine, each write one short
  transaction, never freqtrade's shared session: a failed write (server gone, disk full, a
  SIGTERM inside it) rolls back only itself. It raises :class:`StateWriteError`; callers log and
  keep the bot running (the mixin fails closed: a trim whose write-ahead cannot be written is
  not placed). An interrupt the database error hides (a SIGTERM inside the write) propagates
  instead (``trader247.interrupts``).
- Upgrade: a state written by earlier versions under the same key in ``KeyValueStore`` is read
  once when our table holds none, and that row is deleted with the first write to our table.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, InvalidRequestError, SQLAlchemyError

from trader247.interrupts import raise_interrupt

logger = logging.getLogger(__name__)

TABLE_NAME = "trader247_state"
_metadata = MetaData()
STATE_TABLE = Table(
    TABLE_NAME, _metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
_LEGACY_TABLE = Table(  # freqtrade's, read-only here (the columns we touch)
    "KeyValueStore", MetaData(),
    Column("key", String(50)), Column("string_value", String(255)),
)


class StateWriteError(Exception):
    """The state could not be written; the message says why (the database's own words)."""


class StateStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ready = False
        self._legacy_pending: set[str] = set()

    @classmethod
    def of_freqtrade(cls) -> StateStore:
        """The store in the database freqtrade opened (``init_db``, ``--db-url``)."""
        from freqtrade.persistence import Trade  # not at import: a store alone needs no freqtrade

        engine: Engine = Trade.session.get_bind()
        return cls(engine)

    def _ensure_table(self) -> None:
        if not self._ready:
            _metadata.create_all(self._engine)  # checks first: CREATE TABLE IF NOT EXISTS
            self._ready = True

    def load(self, key: str, *, legacy_key: str | None = None) -> str | None:
        """The stored text, else the one an earlier version left in KeyValueStore, else None.
        Errors of the database propagate (``SQLAlchemyError``): the caller decides."""
        self._ensure_table()
        with self._engine.connect() as connection:
            value = connection.execute(
                select(STATE_TABLE.c.value).where(STATE_TABLE.c.key == key)).scalar()
            if value is not None or legacy_key is None:
                return str(value) if value is not None else None
            legacy = connection.execute(
                select(_LEGACY_TABLE.c.string_value).where(_LEGACY_TABLE.c.key == legacy_key)
            ).scalar()
        if legacy:
            self._legacy_pending.add(legacy_key)
            logger.info("state %s: read once from freqtrade's KeyValueStore (written by an "
                        "earlier version); it moves to table %s with the next write",
                        key, TABLE_NAME)
            return str(legacy)
        return None

    def save(self, key: str, value: str) -> None:
        """Insert or replace ``key`` in one transaction of its own.

        Update, else insert: portable to every database freqtrade supports. When another
        process inserts the same key between the two (processes sharing one database), the
        insert violates the primary key; then an update alone, in a transaction of its own,
        replaces that row. If there is no such row, the insert failed for another reason, and
        that error is the one raised."""
        now = datetime.now(UTC).replace(tzinfo=None)
        since = sys.exception()
        try:
            self._ensure_table()
            try:
                self._write(key, value, now)
            except IntegrityError:
                if not self._write(key, value, now, insert=False):
                    raise
        except SQLAlchemyError as exc:
            raise_interrupt(exc, since=since)
            raise StateWriteError(_reason(exc)) from exc
        self._legacy_pending.clear()

    def _write(self, key: str, value: str, now: datetime, *, insert: bool = True) -> bool:
        """Update ``key``, else insert it (with ``insert``); whether the key is written."""
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(STATE_TABLE).where(STATE_TABLE.c.key == key)
                .values(value=value, updated_at=now)).rowcount
            if not changed:
                if not insert:
                    return False
                connection.execute(
                    STATE_TABLE.insert().values(key=key, value=value, updated_at=now))
            for legacy_key in self._legacy_pending:
                connection.execute(
                    delete(_LEGACY_TABLE).where(_LEGACY_TABLE.c.key == legacy_key))
        return True


def _reason(exc: Any) -> str:
    original = getattr(exc, "orig", None)
    text = f"{type(original).__name__}: {original}" if original is not None else str(exc)
    return " ".join(text.split())[:300]


def heal_shared_session() -> bool:
    """Make freqtrade's shared session usable again if a SIGTERM interrupted one of its writes.

    A SIGTERM raises ``KeyboardInterrupt`` wherever the bot is. Inside a flush it leaves the
    session refusing every statement (``PendingRollbackError``); inside a commit, after the
    database committed but before the session closed its transaction, it leaves the session in
    the ``'committed' state; no further SQL can be emitted`` (an ``InvalidRequestError``). Either
    way freqtrade's own final commit logs ``Error during cleanup`` and our state write would fail.
    A flush that was interrupted was never committed and a commit that was interrupted is on
    disk, so rolling back (or, where SQLAlchemy refuses even that, closing the session: the next
    use opens a fresh one) loses nothing that was on disk. True when it healed the session.
    """
    from freqtrade.persistence import Trade

    session = getattr(Trade, "session", None)
    if session is None:
        return False
    since = sys.exception()  # the shutdown's own interrupt is not raised again
    try:
        session.execute(text("SELECT 1"))
    except InvalidRequestError as exc:  # PendingRollbackError is one
        raise_interrupt(exc, since=since)
        logger.info("freqtrade's session was interrupted mid-write (%s): healed before "
                    "shutdown", type(exc).__name__)
        try:
            session.rollback()
            session.execute(text("SELECT 1"))
        except InvalidRequestError:
            session.close()
        return True
    return False
