"""Settings shared by the datagen tests (a module, so tests need not import conftest)."""

from __future__ import annotations

from datetime import timedelta

from trader247.datagen.catalog import RANGE_END
from trader247.datagen.settings import Settings, Variant

# Real, generated, near-floor, stablecoin, tiny-price and both kinds of derived pairs.
SMALL_PAIRS = ("BTC/USD", "ETH/USD", "XRP/USD", "NEAR/USD", "ATOM/USD", "USDT/USD", "PEPE/USD",
               "BTC/USDC", "ETH/BTC")


def small_settings(seed: int = 247, variant: Variant = "real",
                   pairs: tuple[str, ...] = SMALL_PAIRS) -> Settings:
    """The last 20 days of the range, 5m over the last 3: a fraction of a second to write."""
    return Settings(seed=seed, variant=variant, start=RANGE_END - timedelta(days=20),
                    end=RANGE_END, fine_days=3, pairs=pairs)
