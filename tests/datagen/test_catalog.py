"""The typed catalog agrees with docs/pair-catalog.md and with the committed real candles."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from trader247.datagen.catalog import (
    CATALOG,
    FINE_DAYS,
    RANGE_END,
    RANGE_START,
    by_pair,
    file_name,
    fine_range,
    pairs,
    resolve_pairs,
)
from trader247.datagen.settings import DEFAULT_REAL_DIR

DOC = Path(__file__).resolve().parents[2] / "docs" / "pair-catalog.md"
M = 1_000_000.0


def _doc_rows() -> dict[str, tuple[str, str, str, str]]:
    rows: dict[str, tuple[str, str, str, str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"[A-Z]+/[A-Z]+", cells[0]):
            rows[cells[0]] = (cells[1], cells[2], cells[3], cells[4])
    return rows


def test_same_pairs_as_the_doc_in_the_same_order() -> None:
    assert list(_doc_rows()) == list(pairs())
    assert len(CATALOG) == 37


@pytest.mark.parametrize("pair", pairs())
def test_row_matches_the_doc(pair: str) -> None:
    source, tier, volume, note = _doc_rows()[pair]
    row = by_pair(pair)
    expected_source = "derived" if "(" in source else {"real": "real", "gen": "generated"}[source]
    assert row.source == expected_source
    doc_tier = tier if tier.startswith("tier_") and " " not in tier else None
    if pair in ("BTC/USDC",):  # "tier_1_core via bare symbol? no: not listed"
        doc_tier = None
    assert row.tier == doc_tier
    match = re.match(r"([\d.]+)M", volume)
    if row.source == "real":
        assert volume.startswith("real")
    else:
        assert match, volume
        assert math.isclose(row.target_usd_volume, float(match.group(1)) * M)
    assert row.near_floor == ("near" in note and "floor" in note)
    if row.near_floor:
        assert row.floor_side == ("above" if "(above)" in note else "below")
    assert row.excluded == ("never_trade" in note)
    assert row.stablecoin == ("stablecoin" in note)


def test_near_floor_pairs_sit_on_the_stated_side_of_their_floor() -> None:
    near = [p for p in CATALOG if p.near_floor]
    assert {p.base for p in near} == {"NEAR", "ATOM", "FIL", "GRT", "ARB", "OP"}
    for p in near:
        assert p.near_floor_usd is not None
        above = p.target_usd_volume > p.near_floor_usd
        assert above == (p.floor_side == "above"), p.pair
        # The +-3 % band straddles the floor: the median side is the promise, not every hour.
        assert p.target_usd_volume * (1 - p.wiggle) < p.near_floor_usd < p.target_usd_volume * (
            1 + p.wiggle)


def test_lookup_spellings_and_file_names() -> None:
    assert by_pair("btc-usd") is by_pair("BTC/USD") is by_pair("BTC_USD")
    assert file_name("ETH/BTC", "5m") == "ETH_BTC-5m.feather"
    with pytest.raises(KeyError, match="unknown pair"):
        by_pair("FOO/USD")
    assert [p.pair for p in resolve_pairs(["eth-btc", "BTC/USD", "BTC/USD"])] == [
        "BTC/USD", "ETH/BTC"]


def test_ticks_are_powers_of_ten_and_derived_parents_exist() -> None:
    for p in CATALOG:
        exponent = math.log10(p.price_tick)
        assert exponent == round(exponent), p.pair
        for parent in p.parents:
            assert by_pair(parent).quote == "USD"


def test_range_constants_match_the_committed_real_candles() -> None:
    first, last = fine_range()
    assert (last - first).total_seconds() == FINE_DAYS * 86400 - 300
    for base in ("BTC", "ETH", "SOL", "ADA"):
        hourly = pd.read_feather(DEFAULT_REAL_DIR / f"{base}_USD-1h.feather")
        assert hourly["date"].iloc[0] == pd.Timestamp(RANGE_START)
        assert hourly["date"].iloc[-1] == pd.Timestamp(RANGE_END)
        assert (hourly["date"].diff().dropna() == pd.Timedelta("1h")).all()
        fine = pd.read_feather(DEFAULT_REAL_DIR / f"{base}_USD-15m.feather")
        tail = fine[fine["date"] >= pd.Timestamp(first)]
        assert len(tail) == FINE_DAYS * 96  # the 5m bridge has no holes to inherit
