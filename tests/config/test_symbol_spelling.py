"""A pair written without its dash (``ADAUSD``) is an error naming file:line and the pair it
meant ([P] item 5): as a bare base it matched no market and ADA/USD fell out of its tier (2 %
-> 0.7 % sizing) without a word. Offline the known bases are the file's own pairs' and the
default universe's; the exchange check at bot start is in ``tests/plugins/test_pairlist.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.conftest import POLICY, UNIVERSE
from trader247.cli import main as cli_main
from trader247.configfiles import ConfigFileError, check_universe_markets, load_universe
from trader247.core.symbols import glued_pair

HINT = "(a bare symbol is a base, every quote of it)"


@pytest.mark.parametrize("symbol, known, expected", [
    ("ADAUSD", {"ADA"}, "ADA-USD"),
    ("ADAUSDC", {"ADA"}, "ADA-USDC"),      # the longest quote wins: not ADAUSD-C
    ("ADAUSDT", {"ADA"}, "ADA-USDT"),
    ("ETHBTC", {"ETH", "BTC"}, "ETH-BTC"),
    ("adausd", {"ADA"}, "ADA-USD"),
    ("ADA", {"ADA"}, None),                # a base
    ("ADA-USD", {"ADA"}, None),            # a pair
    ("CBETH", {"ADA", "ETH"}, None),       # Coinbase Wrapped Staked ETH: CB is no base
    ("CBETH", {"CB", "CBETH"}, None),      # a known base itself
    ("FOOUSD", {"ADA"}, None),             # FOO unknown: left to the exchange check
    ("USD", {"ADA", ""}, None),            # nothing before the quote
])
def test_glued_pair(symbol: str, known: set[str], expected: str | None) -> None:
    assert glued_pair(symbol, known) == expected


def _universe(tmp_path: Path, old: str, new: str) -> Path:
    text = UNIVERSE.read_text()
    assert text.count(old) == 1, old
    path = tmp_path / "universe.yaml"
    path.write_text(text.replace(old, new))
    return path


def _line(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


ADA = "      - ADA-USD\n"


@pytest.mark.parametrize("old, new, bad, key, message", [
    (ADA, "      - ADAUSD\n", "ADAUSD", "tiers.tier_2_rotational.symbols[0]",
     f"ADAUSD is not a base currency: did you mean ADA-USD? {HINT}"),
    (ADA, "      - ADAUSDC\n", "ADAUSDC", "tiers.tier_2_rotational.symbols[0]",
     f"ADAUSDC is not a base currency: did you mean ADA-USDC? {HINT}"),
    ("    - BONK-USD", "    - BONKUSD", "BONKUSD", "exclusions.never_trade[0]",  # a default
     f"BONKUSD is not a base currency: did you mean BONK-USD? {HINT}"),
    (ADA, "      - FOO-BTC\n      - FOOUSD\n", "FOOUSD", "tiers.tier_2_rotational.symbols[1]",
     f"FOOUSD is not a base currency: did you mean FOO-USD? {HINT}"),  # FOO: this file's
    (ADA, "      - ADA_USD\n", "ADA_USD", "tiers.tier_2_rotational.symbols[0]",
     "must be a symbol like BTC-USD, BTC/USD or BTC (upper-case letters/digits) (got 'ADA_USD')"),
])
def test_a_glued_or_malformed_symbol_is_an_error_naming_file_line_and_key(
        tmp_path: Path, old: str, new: str, bad: str, key: str, message: str) -> None:
    path = _universe(tmp_path, old, new)
    with pytest.raises(ConfigFileError) as caught:
        load_universe(path)
    assert f"{path}:{_line(path, bad)}: {key}: {message}" in [
        p.format() for p in caught.value.errors]


@pytest.mark.parametrize("bare", ["ADA", "CBETH", "FOOUSD"])
def test_a_bare_base_that_may_exist_passes_offline(tmp_path: Path, bare: str) -> None:
    load_universe(_universe(tmp_path, ADA, f"      - {bare}\n"))


def test_the_exchange_check_names_file_line_and_suggests_the_listed_pair(tmp_path: Path) -> None:
    path = _universe(tmp_path, ADA, "      - FOOUSD\n      - NOPE\n      - DOGE\n")
    path.write_text(path.read_text().replace("    - BONK-USD", "    - BARUSD\n    - GONE"))
    bases = {"BTC", "ETH", "SOL", "FOO", "BAR", "DOGE", "XRP"}
    problems = [(p.severity, p.format()) for p in check_universe_markets(path, bases)]
    assert problems == [
        ("error", f"{path}:{_line(path, 'FOOUSD')}: tiers.tier_2_rotational.symbols[0]: FOOUSD "
         f"is no base currency on the exchange: did you mean FOO-USD? {HINT}"),
        ("error", f"{path}:{_line(path, 'NOPE')}: tiers.tier_2_rotational.symbols[1]: NOPE is "
         f"no base currency on the exchange {HINT}"),
        # never_trade: a glued pair excludes nothing (error), a delisted coin changes nothing
        ("error", f"{path}:{_line(path, 'BARUSD')}: exclusions.never_trade[0]: BARUSD is no "
         f"base currency on the exchange: did you mean BAR-USD? {HINT}"),
        ("warning", f"{path}:{_line(path, 'GONE')}: exclusions.never_trade[1]: warning: GONE is "
         f"no base currency on the exchange {HINT}"),
    ]  # DOGE is a base there; the pairs (XRP-USD, ...) are not this check's business


def test_trader247_validate_reports_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _universe(tmp_path, ADA, "      - ADAUSD\n")
    assert cli_main(["validate", "--yaml", str(POLICY), str(path), "--dry-run"]) == 1
    assert (f"❌ {path}:{_line(path, 'ADAUSD')}: tiers.tier_2_rotational.symbols[0]: ADAUSD is "
            f"not a base currency: did you mean ADA-USD? {HINT}") in capsys.readouterr().out
