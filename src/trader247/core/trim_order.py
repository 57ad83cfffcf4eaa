"""One planned trim order, a value: shared by planning and trim memory.

Its own module so :mod:`trader247.core.trim_state` (which :mod:`trader247.core.trims` imports)
can record orders without an import cycle."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TrimOrder:
    """Sell ``stake_to_sell`` worth (at mark) = ``amount`` base units of ``pair``.

    freqtrade's ``adjust_trade_position`` converts a negative stake to an amount with the trade's
    cost basis (``stake * trade.amount / trade.stake_amount``), not the mark: the adapter should
    return ``-amount * trade.stake_amount / trade.amount`` (``-trade.stake_amount`` on a full exit).
    """

    pair: str
    stake_to_sell: float
    amount: float
    reason: str
    full_exit: bool = False
    # The limits this order answers when a cluster / asset cap is involved ("cluster=MEME",
    # "asset=DOGE", "total"); empty for the total cap's own rounds.
    limits: tuple[str, ...] = ()
