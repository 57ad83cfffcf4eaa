"""Bounded settings of the stateful machines (tests/stateful, [T] item 2).

``make test`` runs every machine with a small, fixed number of examples and steps (together
well under a minute; README "Stateful tests" gives the measured time), with real randomness:
each run explores other sequences. No example database is written. Two switches for runs by
hand: ``TRADER247_STATEFUL_SCALE=20`` runs 20 times the examples (a deep search), and
``TRADER247_STATEFUL_SHRINK=0`` reports the first failing sequence without shrinking it (a
mutation run only needs to know that a machine fails).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

SCALE_ENV = "TRADER247_STATEFUL_SCALE"
SHRINK_ENV = "TRADER247_STATEFUL_SHRINK"


def bounded(max_examples: int, steps: int) -> settings:
    raw = os.environ.get(SCALE_ENV, "1")
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if not scale > 0:
        raise ValueError(f"{SCALE_ENV} must be a number > 0 (times the examples), got {raw!r}")
    phases = tuple(Phase) if os.environ.get(SHRINK_ENV) != "0" else tuple(
        p for p in Phase if p is not Phase.shrink)
    return settings(max_examples=max(1, round(max_examples * scale)), stateful_step_count=steps,
                    deadline=None, database=None, phases=phases,
                    suppress_health_check=[HealthCheck.too_slow])
