"""Progress lines and time estimates of ``trader247 walk-forward``.

Before, a window ran ~5 min with one line and no word during freqtrade's hyperopt: its progress
bar is drawn by rich only on a terminal and went to the window's log file.

Decisions:
- Hyperopt epochs are counted from freqtrade's own results file (``hyperopt_results/*.fthypt``,
  one JSON line appended per evaluated epoch, ``Hyperopt._save_result``), polled once a second:
  no parsing of freqtrade's log or progress bar, and the count is the one freqtrade reports.
- Time per epoch is measured from the first epochs written, not from the hyperopt's start: the
  start-up (workers importing freqtrade, candles, indicators on the train range) happens once
  per hyperopt and would make the estimate of the remaining epochs far too long (measured on 2
  cores: 14.5 s/epoch counted from the start against 2.4 s/epoch after the first batch). The
  first line therefore gives the start-up time, the later ones the rate and the time left.
- Remaining time of the walk-forward: windows left x the mean duration of the windows done
  (printed after each window). Windows have the same length in days, so the mean is the honest
  guess; the last window may be shorter (a test range down to half ``--test-days``).
- On a terminal an epoch line overwrites the previous one; elsewhere (a log, CI, a test) each
  new count is a line of its own.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

RESULTS_GLOB: Final = "*.fthypt"


def duration(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``, ``1 h 02 min``."""
    whole = max(0, math.ceil(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def seconds_per_epoch(first: tuple[int, float], last: tuple[int, float]) -> float:
    """Seconds per epoch between two ``(epochs done, time)`` readings: the first write of
    epochs and now (module doc)."""
    if last[0] <= first[0]:
        raise ValueError(f"no epoch between the readings {first} and {last}")
    return (last[1] - first[1]) / (last[0] - first[0])


def remaining_walk(durations: list[float], windows_left: int) -> float:
    """Seconds left: the mean duration of the windows done times the windows left."""
    return sum(durations) / len(durations) * windows_left if durations else 0.0


class Progress:
    """Lines on ``stream``; on a terminal a status line is rewritten in place until the next
    line."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._open = False  # a status line without its newline is on the terminal

    def line(self, text: str) -> None:
        self._close()
        print(text, file=self.stream, flush=True)

    def status(self, text: str) -> None:
        if not self.tty:
            self.line(text)
            return
        self.stream.write(f"\r{text}\x1b[K")
        self.stream.flush()
        self._open = True

    def _close(self) -> None:
        if self._open:
            self.stream.write("\n")
            self._open = False


@dataclass
class EpochWatch:
    """Counts the epochs freqtrade's hyperopt has written to a new results file under
    ``results_dir`` and reports each new count to ``progress`` (call :meth:`poll` while the
    hyperopt runs)."""

    results_dir: Path
    epochs: int
    prefix: str
    progress: Progress
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)
    done: int = field(default=0, init=False)
    _before: set[Path] = field(default_factory=set, init=False)
    _file: Path | None = field(default=None, init=False)
    _offset: int = field(default=0, init=False)
    _first: tuple[int, float] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()
        self._before = set(self.results_dir.glob(RESULTS_GLOB))

    def poll(self) -> None:
        count = self._count()
        if count <= self.done:
            return
        now = self.clock()
        self.done = count
        head = f"{self.prefix} hyperopt epoch {count}/{self.epochs}"
        if self._first is None:
            self._first = (count, now)
            self.progress.status(f"{head} (start-up and first epochs: "
                                 f"{duration(now - self.started)})")
            return
        per = seconds_per_epoch(self._first, (count, now))
        left = max(0, self.epochs - count) * per
        self.progress.status(f"{head}: {per:.1f} s/epoch, ~{duration(left)} left in this "
                             "hyperopt")

    def _count(self) -> int:
        if self._file is None:
            new = set(self.results_dir.glob(RESULTS_GLOB)) - self._before
            if not new:
                return 0
            self._file = max(new, key=lambda p: p.stat().st_mtime)
        with self._file.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        # Only whole lines count: freqtrade may be half-way through writing one.
        complete = chunk.rfind(b"\n") + 1
        self._offset += complete
        return self.done + chunk.count(b"\n", 0, complete)
