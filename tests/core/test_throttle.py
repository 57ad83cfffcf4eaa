"""Sliding-window throttle with injected time; denials are counted."""

from __future__ import annotations

import math

import pytest

from trader247.core.throttle import Throttle


@pytest.mark.parametrize(
    "limit, interval, times, allowed",
    [
        # One trim round per 3 cycles: cycles 0..9 -> rounds at 0, 3, 6, 9.
        (1, 3, range(10), [0, 3, 6, 9]),
        # 2 chat messages per 60 s.
        (2, 60.0, [0.0, 1.0, 2.0, 59.99, 60.0, 60.5, 61.0], [0.0, 1.0, 60.0, 61.0]),
        (3, 10.0, [0.0, 0.0, 0.0, 0.0, 10.0], [0.0, 0.0, 0.0, 10.0]),
    ],
)
def test_allow_table(limit: int, interval: float, times: list[float], allowed: list[float]) -> None:
    throttle = Throttle(limit, interval)
    got = [t for t in times if throttle.allow(t)]
    assert got == allowed
    assert throttle.allowed == len(allowed)
    assert throttle.denied == len(list(times)) - len(allowed)


def test_remaining_and_next_allowed_at_do_not_record() -> None:
    throttle = Throttle(2, 60.0)
    assert throttle.remaining(0.0) == 2 and throttle.next_allowed_at(0.0) == 0.0
    assert throttle.allow(0.0) and throttle.allow(5.0)
    assert throttle.remaining(10.0) == 0
    assert throttle.next_allowed_at(10.0) == 60.0
    assert throttle.remaining(60.0) == 1
    assert (throttle.allowed, throttle.denied) == (2, 0)


def test_clock_going_backwards_errs_on_denying() -> None:
    throttle = Throttle(1, 10.0)
    assert throttle.allow(100.0)
    assert not throttle.allow(50.0)
    assert throttle.allow(110.0)


@pytest.mark.parametrize(
    "limit, interval, field",
    [
        (0, 1.0, "limit"),
        (True, 1.0, "limit"),
        (1.5, 1.0, "limit"),
        (1, 0.0, "interval"),
        (1, -1.0, "interval"),
        (1, math.inf, "interval"),
        (1, math.nan, "interval"),
    ],
)
def test_rejects_bad_parameters(limit: object, interval: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Throttle(limit, interval)  # type: ignore[arg-type]


def test_repr_shows_counts() -> None:
    throttle = Throttle(1, 1.0)
    throttle.allow(0.0)
    throttle.allow(0.5)
    assert repr(throttle) == "Throttle(limit=1, interval=1, allowed=1, denied=1)"
