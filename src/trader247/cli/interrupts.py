"""Long commands stop cleanly on Ctrl-C (SIGINT) and SIGTERM.

``trader247 walk-forward`` runs ``freqtrade hyperopt`` / ``backtesting`` as child processes;
hyperopt starts joblib's loky workers, loky's and multiprocessing's resource trackers and a
multiprocessing forkserver (measured: 7 processes with ``-j 2``). Before this module a Ctrl-C
printed a ``KeyboardInterrupt`` traceback (``subprocess.run`` killed freqtrade 0.25 s later,
before it could shut its pool down), and a SIGTERM to trader247 alone killed it outright,
leaving freqtrade, its workers and the replay exchange running re-parented to PID 1.

Decisions:
- :func:`stop_on_signals`: while a command runs, the first SIGINT or SIGTERM raises
  :class:`Interrupted` in the main thread (a ``KeyboardInterrupt``, so ``finally`` blocks and
  context managers clean up as for Ctrl-C); later ones are counted but raise nothing, so the
  clean-up they would cut short runs to its end (it is bounded: :data:`GRACE_S` +
  :data:`KILL_WAIT_S` per child group). A signal whose disposition is "ignore" when the command
  starts (``nohup``, a background job of a non-interactive shell) stays ignored. The exit code
  is the shell's for death by that signal: 128 + signal number (130, 143), with one line on
  stderr and no traceback.
- :func:`run_in_group`: each child runs in a session of its own (``start_new_session``), so a
  terminal's Ctrl-C reaches trader247 only and trader247 alone decides how children stop: on
  any exception (an interrupt included) the whole process group gets SIGTERM, then SIGKILL
  after :data:`GRACE_S`, and the call returns only when no process of the group is alive.
  SIGTERM, not SIGINT: hyperopt catches ``KeyboardInterrupt`` and goes on to write its results,
  which an interrupted walk-forward throws away. The resource trackers ignore SIGTERM and SIGINT
  by design; they exit by themselves (after unlinking what the workers leaked) once every
  process holding their pipe is gone, which is why the group is waited for, not just signalled.
- Not covered: a SIGKILL of trader247 itself (no code runs; the children's sessions survive it)
  and a signal inside the few microseconds of ``Popen`` between ``fork`` and its return.

``trader247.interrupts`` (the bot's) solves another problem: inside freqtrade's own process it
re-raises interrupts that libraries swallowed. This module owns the signals of our own commands.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final

GRACE_S: Final = 10.0  # SIGTERM -> SIGKILL
KILL_WAIT_S: Final = 5.0  # SIGKILL -> give up waiting (a process in uninterruptible sleep)
POLL_S: Final = 0.05
SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; notes (``add_note``) say what was stopped on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def line(self, command: str) -> str:
        """``walk-forward: stopped by SIGINT (during ...; freqtrade hyperopt: 7 processes
        stopped in 0.4 s)``: the one line printed instead of a traceback."""
        notes = "; ".join(getattr(self, "__notes__", ()))
        return f"{command}: stopped by {self.name}" + (f" ({notes})" if notes else "")


class _Latch:
    def __init__(self) -> None:
        self.signum: int | None = None
        self.repeats = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            raise Interrupted(signum)
        self.repeats += 1  # the clean-up of the first one is under way and bounded


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT / SIGTERM raise :class:`Interrupted` inside the block (main thread only; see the
    module doc); the previous handlers come back at its end. An interrupt that some library
    swallowed still ends the command: it is raised again when the block ends."""
    latch = _Latch()
    previous: dict[signal.Signals, Any] = {}
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if current is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, latch)
    try:
        yield
        if latch.signum is not None:
            raise Interrupted(latch.signum)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def interruptible(command: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a command handler: run it under :func:`stop_on_signals`; an interrupt prints
    :meth:`Interrupted.line` on stderr and returns its exit code (130 / 143)."""

    def wrap(handler: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(handler)
        def run(*args: Any, **kwargs: Any) -> int:
            try:
                with stop_on_signals():
                    return handler(*args, **kwargs)
            except Interrupted as stop:
                print(stop.line(command), file=sys.stderr, flush=True)
                return stop.exit_code

        return run

    return wrap


def run_in_group(command: Sequence[str], *, log: IO[Any], name: str,
                 poll: Callable[[], None] | None = None, every: float = 1.0) -> int:
    """Run ``command`` in its own session with output to ``log``, calling ``poll`` every
    ``every`` seconds while it runs; its exit code. On any exception (an interrupt, an error of
    ``poll``) the group is stopped (:func:`stop_group`) before the exception goes on, and an
    :class:`Interrupted` gets a note naming ``name`` and what stopping it took."""
    process = subprocess.Popen(list(command), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        while process.poll() is None:  # ends with the child (or with an exception)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=every)
            if poll is not None:
                poll()
        return int(process.returncode)
    except BaseException as exc:
        note = stop_group(process)
        if isinstance(exc, Interrupted):
            exc.add_note(f"{name}: {note}")
        raise


def stop_group(process: subprocess.Popen[Any], *, grace: float = GRACE_S,
               kill_wait: float = KILL_WAIT_S) -> str:
    """SIGTERM to the process group led by ``process`` (started with ``start_new_session``),
    SIGKILL to what is left after ``grace`` s; wait until no member is alive (at most ``grace +
    kill_wait`` s). Returns what happened, for the interrupt line."""
    started = time.monotonic()
    pgid = process.pid
    count = len(group_members(pgid))
    _signal_group(pgid, signal.SIGTERM)
    left = _wait_group(process, grace)
    how = "SIGTERM"
    if left:
        _signal_group(pgid, signal.SIGKILL)
        left = _wait_group(process, kill_wait)
        how = "SIGTERM, then SIGKILL"
    took = f"{time.monotonic() - started:.1f} s"
    if left:
        return (f"{count} processes signalled ({how}), {len(left)} still alive after {took}: "
                f"pids {' '.join(map(str, left))}")
    return f"{count} processes stopped in {took} ({how})"


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _wait_group(process: subprocess.Popen[Any], timeout: float) -> list[int]:
    """Reap ``process``; wait until its group has no live member or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    left = group_members(process.pid)
    while left and time.monotonic() < deadline:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=POLL_S)
        left = group_members(process.pid)
    process.poll()
    return left


def group_members(pgid: int, proc: Path = Path("/proc")) -> list[int]:
    """PIDs of the live (not zombie) processes of group ``pgid``: ``/proc`` where there is one
    (a zombie waits for its parent, possibly PID 1, to reap it: it runs nothing and holds no
    pipe), else ``killpg(pgid, 0)`` (zombies then count until they are reaped)."""
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return sorted(members)
