"""TieredLiquidityPairList through freqtrade's own resolver, with a fake exchange (issue [B])."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from freqtrade.enums import RunMode
from freqtrade.exceptions import OperationalException
from freqtrade.resolvers.pairlist_resolver import PairListResolver

REPO = Path(__file__).resolve().parents[2]

# The seed's BTC ticker: volume_24h in BTC units, approximate_quote_24h_volume in USD.
BTC_SEED = {"last": 95250.0, "baseVolume": 5928.37, "quoteVolume": None,
            "info": {"volume_24h": "5928.37", "approximate_quote_24h_volume": "564677608"}}


def ticker(usd_volume: float | None, last: float = 1.0, base_volume: float | None = None) -> dict[str, Any]:
    info = {} if usd_volume is None else {"approximate_quote_24h_volume": str(usd_volume)}
    return {"last": last, "quoteVolume": None, "baseVolume": base_volume, "info": info}


class FakeExchange:
    def __init__(self, tickers: dict[str, dict[str, Any]], inactive: tuple[str, ...] = ()) -> None:
        self.tickers = tickers
        self.fail: Exception | None = None
        self.markets = {
            pair: {"symbol": pair, "base": pair.split("/")[0], "quote": pair.split("/")[1],
                   "active": pair not in inactive, "spot": True}
            for pair in tickers
        }

    def get_markets(self, quote_currencies: list[str], **_: Any) -> dict[str, Any]:
        return {p: m for p, m in self.markets.items() if m["quote"] in quote_currencies}

    def get_tickers(self, **_: Any) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        return self.tickers


def load(exchange: FakeExchange, tmp_path: Path | None = None, **params: Any) -> Any:
    config = {"stake_currency": "USD", "dry_run": True, "runmode": RunMode.DRY_RUN,
              "config_files": [str(REPO / "config" / "config.json")],
              "user_data_dir": REPO / "user_data",
              "pairlists": [{"method": "TieredLiquidityPairList", **params}]}
    return PairListResolver.load_pairlist(
        "TieredLiquidityPairList", exchange=exchange, pairlistmanager=None, config=config,
        pairlistconfig={"method": "TieredLiquidityPairList", "refresh_period": 0, **params},
        pairlist_pos=0)


def whitelist(pairlist: Any) -> list[str]:
    return list(pairlist.gen_pairlist({}))


BASE_MARKET = {"BTC/USD": BTC_SEED, "ETH/USD": ticker(300e6, 3000.0),
               "SOL/USD": ticker(120e6, 150.0)}


def test_seed_btc_case_is_reported_in_usd_and_force_eligible(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    pairs = whitelist(load(FakeExchange(dict(BASE_MARKET))))
    assert pairs[:3] == ["BTC/USD", "ETH/USD", "SOL/USD"]
    assert ("✅ FORCE ELIGIBLE: BTC/USD bypasses liquidity checks (tier_1_core, "
            "usd_volume=$564.7M, floor=$10.0M)") in caplog.messages


@pytest.mark.parametrize(
    ("pair", "usd", "eligible"),
    [
        ("XRP/USD", 5_000_000.00, True),      # tier 2 floor, exactly
        ("XRP/USD", 4_999_999.99, False),     # one cent under
        ("UNI/USD", 2_000_000.00, True),      # tier 3 floor
        ("UNI/USD", 1_999_999.99, False),
        ("SHIB/USD", 3_000_000.00, True),     # no tier: global floor
        ("SHIB/USD", 2_999_999.99, False),
        ("USDT/USD", 90_000_000.0, False),    # stablecoin base
        ("BONK/USD", 90_000_000.0, False),    # never_trade
    ],
)
def test_floors_at_the_boundary(pair: str, usd: float, eligible: bool) -> None:
    exchange = FakeExchange({**BASE_MARKET, pair: ticker(usd)})
    assert (pair in whitelist(load(exchange))) is eligible


def test_missing_quote_volume_uses_base_times_price_never_base_as_dollars() -> None:
    # 3M XRP at $2 is $6M (eligible); read as dollars it would be $3M, under the tier-2 floor.
    exchange = FakeExchange({**BASE_MARKET, "XRP/USD": ticker(None, last=2.0, base_volume=3e6)})
    assert "XRP/USD" in whitelist(load(exchange))
    exchange = FakeExchange({**BASE_MARKET, "XRP/USD": ticker(None, last=1.0, base_volume=4.9e6)})
    assert "XRP/USD" not in whitelist(load(exchange))


def test_inactive_force_eligible_market_is_dropped_with_an_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    pairs = whitelist(load(FakeExchange(dict(BASE_MARKET), inactive=("SOL/USD",))))
    assert "SOL/USD" not in pairs
    assert any("SOL/USD" in r.message for r in caplog.records if r.levelno == logging.ERROR)


def test_ticker_fault_keeps_the_last_good_whitelist(caplog: pytest.LogCaptureFixture) -> None:
    exchange = FakeExchange({**BASE_MARKET, "XRP/USD": ticker(80e6)})
    pairlist = load(exchange)
    before = whitelist(pairlist)
    assert "XRP/USD" in before
    exchange.fail = TimeoutError("tickers timed out")
    caplog.set_level(logging.INFO)
    assert whitelist(pairlist) == before
    assert any("UNIVERSE_KEPT" in message for message in caplog.messages)


def test_force_eligible_line_is_logged_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    pairlist = load(FakeExchange(dict(BASE_MARKET)))
    whitelist(pairlist)
    whitelist(pairlist)
    assert sum("FORCE ELIGIBLE: BTC/USD" in m for m in caplog.messages) == 1


def test_rollback_by_config_alone(tmp_path: Path) -> None:
    universe = (REPO / "config" / "universe.yaml").read_text()
    rolled_back = universe.replace("min_24h_volume_usd: 10000000", "min_24h_volume_usd: 50000000")
    rolled_back = rolled_back.split("      force_eligible_symbols:")[0] + "\n" + \
        rolled_back.split("- SOL-USD  # always liquid, volume floor irrelevant\n", 1)[1]
    (tmp_path / "universe.yaml").write_text(rolled_back)
    exchange = FakeExchange({**BASE_MARKET, "ETH/USD": ticker(40e6, 3000.0)})
    pairs = whitelist(load(exchange, universe_file=str(tmp_path / "universe.yaml")))
    assert "ETH/USD" not in pairs  # $40M < $50M and no longer forced
    assert "BTC/USD" in pairs      # $564.7M is above any floor


def test_bad_universe_file_refuses_to_start_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "universe.yaml"
    bad.write_text("tiers:\n  tier_1_core:\n    symbols: [BTC-USD]\n    constraints:\n"
                   "      min_24h_volume_usd: -5\n")
    with pytest.raises(OperationalException, match=r"universe.yaml:5: .*min_24h_volume_usd"):
        load(FakeExchange(dict(BASE_MARKET)), universe_file=str(bad))


def test_available_parameters_are_fully_described() -> None:
    pairlist_cls = type(load(FakeExchange(dict(BASE_MARKET))))
    for name, spec in pairlist_cls.available_parameters().items():
        assert {"type", "default", "description", "help"} <= set(spec), name


def _universe_with(tmp_path: Path, symbols: str) -> Path:
    universe = (REPO / "config" / "universe.yaml").read_text()
    path = tmp_path / "universe.yaml"
    path.write_text(universe.replace("      - ADA-USD\n", symbols, 1))
    return path


def test_a_bare_symbol_the_exchange_does_not_list_refuses_to_start(tmp_path: Path) -> None:
    # FOOUSD passes the offline check (FOO is in no file): the markets decide, at start.
    path = _universe_with(tmp_path, "      - FOOUSD\n      - NOPE\n")
    exchange = FakeExchange({**BASE_MARKET, "FOO/USD": ticker(9e6)})
    with pytest.raises(OperationalException) as caught:
        load(exchange, universe_file=str(path))
    lines = str(caught.value).splitlines()
    foo = path.read_text().splitlines().index("      - FOOUSD") + 1
    assert lines[0] == "TieredLiquidityPairList: universe symbols not on the exchange:"
    assert lines[1].startswith(f"{path}:{foo}: tiers.tier_2_rotational.symbols[0]: FOOUSD is "
                               "no base currency on the exchange: did you mean FOO-USD?")
    assert lines[2].startswith(f"{path}:{foo + 1}: tiers.tier_2_rotational.symbols[1]: NOPE is "
                               "no base")


def test_a_bare_base_the_exchange_lists_starts(tmp_path: Path) -> None:
    path = _universe_with(tmp_path, "      - CBETH\n")  # a real Coinbase base, not CB-ETH
    exchange = FakeExchange({**BASE_MARKET, "CBETH/USD": ticker(9e6)})
    assert "CBETH/USD" in whitelist(load(exchange, universe_file=str(path)))
