from __future__ import annotations

import pytest

from trader247.core.symbols import (
    SymbolSet,
    asset_of,
    is_bare,
    split_pair,
    symbol_matches,
    to_pair,
)


@pytest.mark.parametrize(
    "symbol, expected",
    [
        ("BTC-USD", "BTC/USD"),
        ("BTC/USD", "BTC/USD"),
        ("btc-usd", "BTC/USD"),
        (" ETH/usdc ", "ETH/USDC"),
        ("BTC", "BTC"),
        ("sol", "SOL"),
        ("1INCH-USD", "1INCH/USD"),
    ],
)
def test_to_pair_normalises(symbol: str, expected: str) -> None:
    assert to_pair(symbol) == expected


@pytest.mark.parametrize(
    "symbol",
    ["", "   ", "BTC-", "-USD", "/USD", "A/B/C", "A-B-C", "BTC-USD/X", "BTC/USD:USD", "BTC USD"],
)
def test_to_pair_rejects_malformed(symbol: str) -> None:
    with pytest.raises(ValueError, match="invalid symbol"):
        to_pair(symbol)


def test_to_pair_rejects_non_string() -> None:
    with pytest.raises(ValueError):
        to_pair(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "pair, expected",
    [("BTC-USD", ("BTC", "USD")), ("ETH/BTC", ("ETH", "BTC")), ("sol-usdc", ("SOL", "USDC"))],
)
def test_split_pair(pair: str, expected: tuple[str, str]) -> None:
    assert split_pair(pair) == expected


def test_split_pair_bare_base_is_not_a_pair() -> None:
    with pytest.raises(ValueError, match="bare base"):
        split_pair("BTC")


@pytest.mark.parametrize(
    "symbol, bare",
    [("BTC", True), ("BTC-USD", False), ("eth/btc", False)],
)
def test_is_bare(symbol: str, bare: bool) -> None:
    assert is_bare(symbol) is bare


@pytest.mark.parametrize("symbol, asset", [
    ("BTC", "BTC"),                  # a bare base is its own asset
    ("doge", "DOGE"),                # lower case
    (" doge-usd ", "DOGE"),          # blanks around it
    ("BTC-USD", "BTC"),              # Coinbase product id
    ("BTC/USD", "BTC"),              # ccxt pair
    ("DOGE/USDC", "DOGE"),           # every quote of a base is the same asset
    ("eth/btc", "ETH"),              # the base, not the quote, when both are assets
    ("BTC-PERP-INTX", "BTC"),        # multi-part Coinbase id: the first part
    ("ETH/USDC:USDC", "ETH"),        # ccxt settle suffix
    ("A-B/C", "A-B"),                # '/' wins over '-': ccxt's separator is authoritative
    ("bot-a|DOGE/USD", "DOGE"),      # a fleet key: the pair after the bot
    ("a|b|SOL-USD", "SOL"),          # the pair after the last '|'
    ("bot|doge/usd", "DOGE"),        # a fleet key in lower case
])
def test_asset_of_every_spelling(symbol: str, asset: str) -> None:
    assert asset_of(symbol) == asset


def test_asset_of_is_the_one_definition() -> None:
    """The config package and the cluster limits use the same function, not a copy."""
    from trader247.core import cluster_limits, clusters, config

    assert config.asset_of is cluster_limits.asset_of is clusters.asset_of is asset_of


@pytest.mark.parametrize(
    "rule, pair, matches",
    [
        ("BTC", "BTC/USD", True),
        ("BTC", "BTC/USDC", True),
        ("btc", "BTC-EUR", True),
        ("BTC-USD", "BTC/USD", True),
        ("BTC/USD", "btc-usd", True),
        ("BTC-USD", "BTC/USDC", False),
        ("BTC", "WBTC/USD", False),
        ("ETH", "BTC/ETH", False),  # a quote currency is not the base
        ("USD", "BTC/USD", False),
    ],
)
def test_symbol_matches(rule: str, pair: str, matches: bool) -> None:
    assert symbol_matches(rule, pair) is matches


def test_symbol_set_agrees_with_symbol_matches() -> None:
    rules = ["BTC", "ETH-USD", "sol/usdc"]
    sset = SymbolSet.of(rules)
    assert sset.pairs == {"ETH/USD", "SOL/USDC"}
    assert sset.bases == {"BTC"}
    for pair in ["BTC/USD", "BTC/USDC", "ETH/USD", "ETH/USDC", "SOL/USDC", "SOL/USD"]:
        expected = any(symbol_matches(r, pair) for r in rules)
        assert sset.matches(pair) is expected, pair
    assert sset.matches_exact("ETH/USD") and not sset.matches_exact("BTC/USD")
    assert sset.matches_base("BTC/EUR")
    assert bool(sset) and not SymbolSet.of([])
