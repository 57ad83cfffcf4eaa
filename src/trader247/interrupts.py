"""Interrupts end the bot; only database and network errors become outages.

freqtrade's ``trade`` command turns SIGTERM into a ``KeyboardInterrupt`` raised wherever the main
thread is (``term_handler`` in ``freqtrade/commands/trade_commands.py``); freqtrade's clean
shutdown (``worker.exit()``: our ``ft_bot_cleanup`` saves the cap state and leaves the fleet)
runs only if that interrupt reaches the top of the worker. Two ways it was lost (measured with
the fleet store's loop alone, ``tests/reliability/test_sigterm.py``):

1. **Chained.** The interrupt lands inside a library's I/O and the library's own cleanup fails
   in turn: SQLAlchemy's ``pool_pre_ping`` restores psycopg's ``autocommit`` after the
   interrupted ping and psycopg refuses (``can't change 'autocommit' now: connection in
   transaction status ACTIVE``). The error that propagates is a ``ProgrammingError`` whose
   ``__context__`` is the interrupt, and our code turned it into ``FLEET_UNAVAILABLE`` and went
   on trading. Every place of ours that turns a database or network error into an outage calls
   :func:`raise_interrupt` first: an interrupt in the error's ``__cause__``/``__context__``
   chain is raised instead of the outage.
2. **Discarded.** The interrupt lands inside a finalizer (``__del__`` or a weakref callback;
   psycopg's ``BaseConnection.__del__`` of a connection SQLAlchemy invalidated after an earlier
   interrupt was seen). Python prints ``Exception ignored in ...`` and drops it: no code on the
   stack ever sees it. :func:`latch_signals` wraps freqtrade's handlers so each arrival is
   counted, and :func:`raise_if_signalled` (called at the start of every bot iteration and
   before every entry) raises the interrupt again. A lost signal stops the bot one iteration
   later instead of never.

3. **Mid-commit.** The interrupt lands inside SQLAlchemy's flush of freqtrade's own
   ``Trade.commit()`` (``make demo`` with ten open trades, Ctrl-C): SQLAlchemy's rollback then
   fails with ``ResourceClosedError: This transaction is closed``, which freqtrade's ``main``
   reports with a traceback and exit code 1 instead of "SIGINT received". The latch therefore
   does not raise while the main thread is inside the database drivers (SQLAlchemy, psycopg,
   sqlite3): it sends the signal again :data:`REDELIVER_S` later, so the interrupt lands just
   after the database call, and raises anyway after :data:`DEFER_LIMIT_S` (a hung database
   call still ends with Ctrl-C).

``since``: an interrupt that was already on its way out when the operation began (freqtrade's
``worker.exit()`` runs in a ``finally`` while the interrupt propagates, so every error raised
during the shutdown carries it as ``__context__``) is NOT raised again: that would abort the
very shutdown it asked for (leave the fleet, save the cap state). Callers pass
``sys.exception()`` taken before the operation; the chain is searched only up to it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Final

logger = logging.getLogger(__name__)

INTERRUPTS: Final = (KeyboardInterrupt, SystemExit)
LATCHED_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


def chained_interrupt(exc: BaseException, *, since: BaseException | None
                      ) -> BaseException | None:
    """The ``KeyboardInterrupt`` / ``SystemExit`` that ``exc`` is or was raised while handling
    (its ``__cause__`` and ``__context__`` links, breadth first), newer than ``since``."""
    queue: list[BaseException] = [exc]
    seen: set[int] = set()
    while queue:  # every exception is visited once: the walk ends with the chain
        current = queue.pop(0)
        if current is since or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, INTERRUPTS):
            return current
        queue.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


def raise_interrupt(exc: BaseException, *, since: BaseException | None) -> None:
    """Raise the interrupt ``exc`` hides (:func:`chained_interrupt`); nothing else happens
    when there is none, and the caller reports its outage."""
    interrupt = chained_interrupt(exc, since=since)
    if interrupt is not None:
        logger.info("%s hid an interrupt (%s): it propagates, not an outage",
                    type(exc).__name__, type(interrupt).__name__)
        raise interrupt


DATABASE_MODULES: Final = ("sqlalchemy", "psycopg", "sqlite3")
"""Top-level packages in which an interrupt is deferred (module doc, case 3)."""
REDELIVER_S: Final = 0.1
DEFER_LIMIT_S: Final = 3.0


def in_database_code(frame: FrameType | None) -> bool:
    """True when a frame of ``frame``'s stack belongs to one of :data:`DATABASE_MODULES`."""
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.split(".", 1)[0] in DATABASE_MODULES:
            return True
        frame = frame.f_back
    return False


class _Latch:
    """A signal handler around freqtrade's: counts each arrival, then calls it (it raises),
    unless the main thread is inside the database drivers (module doc, case 3)."""

    def __init__(self, signum: int, inner: Callable[[int, FrameType | None], object],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.signum = signum
        self.inner = inner
        self.received = 0
        self.deferred_since: float | None = None  # set while an interrupt waits (case 3)
        self._clock = clock

    @property
    def pending(self) -> bool:
        return self.deferred_since is not None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received += 1
        now = self._clock()
        if in_database_code(frame) and (self.deferred_since is None
                                        or now - self.deferred_since < DEFER_LIMIT_S):
            if self.deferred_since is None:
                self.deferred_since = now
            # No logging here: a handler that runs inside logging's own lock would deadlock.
            redeliver = threading.Timer(REDELIVER_S, self._redeliver)
            redeliver.daemon = True
            redeliver.start()
            return
        self.deferred_since = None
        self.inner(signum, frame)

    def _redeliver(self) -> None:
        # Only while the interrupt still waits: once raised (here or by raise_if_signalled),
        # another signal would cut freqtrade's clean shutdown short.
        # To the main thread, the one that runs Python's handlers: a thread that blocks the
        # signal for a moment gets it when it unblocks, not some other thread now.
        main = threading.main_thread().ident
        if self.pending and main is not None:
            signal.pthread_kill(main, self.signum)


def latch_signals() -> list[str]:
    """Wrap the Python handlers of SIGTERM and SIGINT (freqtrade's ``term_handler``, Python's
    ``default_int_handler``) in a latch; the names of the signals latched. Only the main
    thread can set handlers (elsewhere: none); a default or ignored disposition is left alone
    (the process then ends or ignores the signal without Python code that could lose it);
    calling it again (``/reload_config``) keeps the latch already there."""
    if threading.current_thread() is not threading.main_thread():
        return []
    latched = []
    for signum in LATCHED_SIGNALS:
        current = signal.getsignal(signum)
        if isinstance(current, _Latch):
            latched.append(signal.Signals(signum).name)
        elif callable(current):
            signal.signal(signum, _Latch(signum, current))
            latched.append(signal.Signals(signum).name)
    return latched


def raise_if_signalled() -> None:
    """``KeyboardInterrupt`` when a latched signal arrived but this code still runs: the
    interrupt it raised was lost (module doc, case 2), or it waits for a database call to end
    (case 3). Cheap: two handler look-ups."""
    for signum in LATCHED_SIGNALS:
        handler = signal.getsignal(signum)
        if not isinstance(handler, _Latch):
            continue
        name = signal.Signals(signum).name
        if handler.pending:
            handler.deferred_since = None
            logger.info("signal=%s arrived inside a database call: stopping now", name)
            raise KeyboardInterrupt(f"{name} received inside a database call")
        if handler.received:
            logger.warning("SIGNAL_LOST: signal=%s received=%d: its interrupt was discarded "
                           "(a finalizer or a library's cleanup); stopping now", name,
                           handler.received)
            raise KeyboardInterrupt(f"{name} received earlier (its interrupt was lost)")
