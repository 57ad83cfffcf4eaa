"""Stale-candle guard decisions at the boundaries ([F])."""

from __future__ import annotations

import pytest

from trader247.core.freshness import Freshness, judge_freshness

FIVE_MIN = 300.0
EXPECTED = 1_700_000_100.0 - 1_700_000_100.0 % FIVE_MIN  # open of the newest closed 5m candle


@pytest.mark.parametrize(
    ("newest", "allowed", "freshness", "missing"),
    [
        (EXPECTED, 0, Freshness.FRESH, 0),                       # exactly the expected candle
        (EXPECTED + FIVE_MIN, 0, Freshness.FRESH, 0),            # candle in progress served too
        (EXPECTED - 1.0, 0, Freshness.FRESH, 0),                 # under a candle behind: rounding
        (EXPECTED - FIVE_MIN, 0, Freshness.STALE_CANDLES, 1),    # one candle missing
        (EXPECTED - FIVE_MIN, 1, Freshness.FRESH, 1),            # ... allowed by the policy
        (EXPECTED - 2 * FIVE_MIN, 1, Freshness.STALE_CANDLES, 2),
    ],
)
def test_newest_candle_against_the_expected_one(
    newest: float, allowed: int, freshness: Freshness, missing: int
) -> None:
    decision = judge_freshness(newest, EXPECTED, FIVE_MIN, allowed)
    assert (decision.freshness, decision.missing_candles) == (freshness, missing)
    assert decision.allows_entry is (freshness is Freshness.FRESH)

