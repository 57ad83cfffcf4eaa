"""``trader247.cli.progress``: walk-forward's epoch and window lines and their estimates
([P] item 4). Time is injected; freqtrade's results file is written by the test."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from trader247.cli.progress import (
    EpochWatch,
    Progress,
    duration,
    remaining_walk,
    seconds_per_epoch,
)


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (59, "59 s"), (59.01, "1 min 00 s"), (60, "1 min 00 s"), (125, "2 min 05 s"),
    (3599, "59 min 59 s"), (3600, "1 h 00 min"), (3725, "1 h 02 min"), (-3, "0 s"),
])
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_seconds_per_epoch_is_measured_after_the_first_write() -> None:
    assert seconds_per_epoch((2, 30.0), (6, 40.0)) == 2.5  # not 40 / 6: start-up excluded
    with pytest.raises(ValueError, match="no epoch between"):
        seconds_per_epoch((2, 30.0), (2, 31.0))


@pytest.mark.parametrize("took, left, expected", [
    ([300.0], 4, 1200.0), ([300.0, 100.0], 3, 600.0), ([300.0], 0, 0.0), ([], 5, 0.0)])
def test_remaining_walk_is_windows_left_times_the_mean(took: list[float], left: int,
                                                        expected: float) -> None:
    assert remaining_walk(took, left) == expected


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_status_is_rewritten_in_place_until_the_next_line() -> None:
    out = _Tty()
    progress = Progress(out)
    progress.status("epoch 1/4")
    progress.status("epoch 2/4")
    progress.line("done")
    assert out.getvalue() == "\repoch 1/4\x1b[K\repoch 2/4\x1b[K\ndone\n"


def test_elsewhere_each_status_is_a_line() -> None:
    out = io.StringIO()
    progress = Progress(out)
    progress.status("epoch 1/4")
    progress.line("done")
    assert out.getvalue() == "epoch 1/4\ndone\n"


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_epochs_are_counted_from_the_new_results_file_whole_lines_only(tmp_path: Path) -> None:
    results = tmp_path / "hyperopt_results"
    results.mkdir()
    (results / "strategy_S_old.fthypt").write_text('{"loss": 1}\n' * 7)  # an earlier window
    out, clock = io.StringIO(), _Clock()
    watch = EpochWatch(results, 40, "[1/3]", Progress(out), clock)
    watch.poll()
    assert watch.done == 0 and out.getvalue() == ""  # hyperopt still starting
    current = results / "strategy_S_new.fthypt"
    clock.now = 130.0
    current.write_text('{"loss": 1}\n{"loss": 2}\n{"loss"')  # freqtrade half-way into line 3
    watch.poll()
    clock.now = 140.0
    with current.open("a") as handle:
        handle.write(': 3}\n{"loss": 4}\n')
    watch.poll()
    watch.poll()  # nothing new: no line
    assert out.getvalue().splitlines() == [
        "[1/3] hyperopt epoch 2/40 (start-up and first epochs: 30 s)",
        "[1/3] hyperopt epoch 4/40: 5.0 s/epoch, ~3 min 00 s left in this hyperopt",
    ]
