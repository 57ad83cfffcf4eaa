"""Why the migration does not map the original spread limits to freqtrade's SpreadFilter: on
Coinbase, ccxt's ticker list has no bid/ask, and SpreadFilter drops every such pair."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import ccxt
from freqtrade.plugins.pairlist.SpreadFilter import SpreadFilter

# One product of Coinbase's /api/v3/brokerage/market/products response, the endpoint ccxt's
# coinbase.fetch_tickers reads (as documented in ccxt's coinbase.parse_ticker).
PRODUCT: dict[str, Any] = {
    "product_id": "ETH-USD", "price": "1920.01", "price_percentage_change_24h": "-1.25",
    "volume_24h": "203390.88", "volume_percentage_change_24h": "-13.68",
    "base_increment": "0.00000001", "quote_increment": "0.01", "quote_min_size": "1",
    "quote_max_size": "50000000", "base_min_size": "0.00000001", "base_max_size": "42000",
    "base_name": "Ethereum", "quote_name": "US Dollar", "watched": False, "is_disabled": False,
    "new": False, "status": "online", "cancel_only": False, "limit_only": False,
    "post_only": False, "trading_disabled": False, "auction_mode": False,
    "product_type": "SPOT", "quote_currency_id": "USD", "base_currency_id": "ETH",
    "fcm_trading_session_details": None, "mid_market_price": "", "alias": "",
    "alias_to": ["ETH-USDC"], "base_display_symbol": "ETH", "quote_display_symbol": "USD",
    "view_only": False, "price_increment": "0.01", "display_name": "ETH-USD",
    "product_venue": "CBE", "approximate_quote_24h_volume": "390503641.25",
}


def test_coinbase_ticker_list_has_no_bid_ask_and_spreadfilter_drops_the_pair() -> None:
    ticker = ccxt.coinbase().parse_ticker(PRODUCT)
    assert ticker["last"] == 1920.01
    assert ticker["bid"] is None and ticker["ask"] is None
    logged: list[str] = []
    spread_filter = SimpleNamespace(_max_spread_ratio=0.008,
                                    log_once=lambda msg, _logger: logged.append(msg))
    assert SpreadFilter._validate_pair(spread_filter, "ETH/USD", ticker) is False
    assert "invalid ticker data" in logged[0]
