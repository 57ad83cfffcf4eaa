"""The original bot's request budgets (``policy.yaml`` ``rate_limits:``, ``app.yaml``
``exchange.rate_limit``) as ccxt's request throttle.

ccxt spaces the requests of an exchange instance by ``rateLimit`` milliseconds; freqtrade
passes ``exchange.ccxt_config`` to its synchronous instance (orders, balances, tickers, order
books: public and private calls) and ``ccxt_async_config`` to its asynchronous one (candle
downloads: public calls only). So the asynchronous throttle takes the strictest public budget
of the original's files, the synchronous one the strictest of all its budgets: at those rates
no budget is exceeded. Per-endpoint budgets and the utilisation alerts of the original's own
limiter have no ccxt equivalent (their rows say so).
"""

from __future__ import annotations

import math

from trader247.core.config import show_value
from trader247.migrate.model import Context, Row, Status, number, quiet
from trader247.migrate.source import Leaf

CONFIG = "config.json"
BUDGETS = (("policy.yaml", ("rate_limits",)), ("app.yaml", ("exchange", "rate_limit")))


def _rate(leaf: Leaf) -> float | None:
    rate: float | None = quiet(lambda: number(leaf, gt=0), None)
    return rate


def _strictest(ctx: Context, kinds: tuple[str, ...]) -> tuple[Leaf, float] | None:
    """The lowest valid requests-per-second budget of ``kinds``; the first one on a tie."""
    found: list[tuple[Leaf, float]] = []
    for file, section in BUDGETS:
        for kind in kinds:
            leaf = ctx.leaf(file, *section, kind)
            rate = None if leaf is None else _rate(leaf)
            if leaf is not None and rate is not None:
                found.append((leaf, rate))
    return min(found, key=lambda item: item[1]) if found else None


def _ms(rate: float) -> int:
    return math.ceil(1000 / rate)


def request_rate(ctx: Context, leaf: Leaf) -> Row:
    """``public`` / ``private`` requests per second -> ccxt ``rateLimit`` = 1000 / rate ms."""
    rate = number(leaf, gt=0, le=1000)
    public, every = _strictest(ctx, ("public",)), _strictest(ctx, ("public", "private"))
    decided = []
    for section, chosen in (("ccxt_config", every), ("ccxt_async_config", public)):
        if chosen is None:
            continue
        ms = _ms(chosen[1])
        ctx.out.put(CONFIG, ("exchange", section, "rateLimit"), ms, chosen[0])
        if chosen[0] == leaf:
            decided.append(f"{section}.rateLimit = {ms}")
    if not decided:
        assert every is not None
        return Row(leaf, Status.COVERED, f"{show_value(rate)} requests/s is no stricter than "
                   f"{every[0].file} {every[0].key} ({show_value(every[1])}/s), which sets "
                   "ccxt's throttle", f"{CONFIG} exchange.ccxt_config.rateLimit")
    scope = ("candle downloads (public) and orders, balances, tickers"
             if len(decided) == 2 else "orders, balances, tickers (public and private)"
             if decided[0].startswith("ccxt_config") else "candle downloads (public)")
    return Row(leaf, Status.MAPPED, f"ccxt's request throttle for {scope}: "
               f"{show_value(rate)} requests/s is one request every {_ms(rate)} ms (the "
               "strictest budget of the original's files)",
               f"{CONFIG} exchange." + ", ".join(d.split(" = ")[0] for d in decided), _ms(rate))
