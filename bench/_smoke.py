"""The smoke mode every bench script has: ``python bench/X.py --smoke``.

A smoke run goes through the bench's whole code path on tiny inputs in seconds and exits 0 when
that path works; it checks no goal and its figures mean nothing. ``tests/test_bench_smoke.py``
runs every ``bench/*.py`` (this helper excepted) that way in the default suite, so a bench that
breaks fails ``make test`` instead of waiting for the next ``make bench``. The test wants
``DONE`` as the last line of the output: a new bench without a smoke mode fails it.

Exit codes of a measured run: 0 goals met, ``GOAL_MISSED`` (3) a goal missed; anything else
(1 for a traceback or ``SystemExit("message")``) means the bench itself is broken. ``make bench``
runs every script, lists the missed goals and fails only on a broken one: the goals are ratios
measured on whatever machine runs them, a broken bench is a defect.
"""

from __future__ import annotations

import argparse

GOAL_MISSED = 3
DONE = "bench smoke: the code path ran (tiny inputs; the figures above are not measurements)"


def add_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true",
                        help="tiny inputs, seconds: exit 0 when the code path works, no goal "
                             "checked (the default suite runs this: tests/test_bench_smoke.py)")


def exit_code(smoke: bool, goals_met: bool) -> int:
    """0 or ``GOAL_MISSED`` by the goals in a measured run; a smoke run says so and exits 0."""
    if smoke:
        print(DONE, flush=True)
        return 0
    return 0 if goals_met else GOAL_MISSED
