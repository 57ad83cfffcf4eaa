"""The order path (``idempotent_create``, ``market_fill``) is installed by the part of ours that
places orders (``ExposureCapMixin.ft_bot_start``, live only; ``tests/e2e/test_live_orders.py``
runs it), on the bot's exchange object: never by the pairlist, never on freqtrade's class."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from freqtrade.enums import RunMode
from freqtrade.exchange import Exchange
from freqtrade.resolvers.pairlist_resolver import PairListResolver
from tests.plugins.test_pairlist import BASE_MARKET, REPO, FakeExchange


def test_a_live_pairlist_leaves_the_exchanges_order_path_alone() -> None:
    exchange = FakeExchange(dict(BASE_MARKET))
    api = SimpleNamespace(create_order=print)  # stands in for the live ccxt instance's method
    exchange._config = {"dry_run": False}  # type: ignore[attr-defined]
    exchange._api = api  # type: ignore[attr-defined]
    entry = {"method": "TieredLiquidityPairList", "refresh_period": 0}
    config = {"stake_currency": "USD", "dry_run": False, "runmode": RunMode.LIVE,
              "config_files": [str(REPO / "config" / "config.json")],
              "user_data_dir": REPO / "user_data", "pairlists": [entry],
              "exchange": {"name": "coinbase", "key": "k", "secret": "s"}}
    PairListResolver.load_pairlist("TieredLiquidityPairList", exchange=exchange,
                                   pairlistmanager=None, config=config, pairlistconfig=entry,
                                   pairlist_pos=0)
    assert api.create_order is print
    assert not hasattr(api, "_trader247_idempotent_create")


def test_trader247_run_does_not_patch_freqtrades_exchange_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import freqtrade.main

    from trader247.cli import launcher

    before = Exchange.create_order

    def main(args: Any) -> None:
        raise SystemExit(0)

    monkeypatch.setattr(freqtrade.main, "main", main)
    assert launcher.trade(["--dry-run"]) == 0
    assert Exchange.create_order is before
