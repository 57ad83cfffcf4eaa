"""``FreqtradeBot.execute_entry``: a position increase passes the at-risk cap first.

Why a patch: freqtrade's ``/forceenter`` (Telegram ``/forcelong``) on a pair already held, and a
strategy's DCA, reach ``execute_entry(..., trade=trade, mode="pos_adjust")``, which calls neither
``custom_stake_amount`` nor ``confirm_trade_entry`` (only ``mode == "initial"`` does) and ignores
locks. No strategy callback can clamp or refuse that order, so the cap would not hold.

The wrapper asks the bot's current strategy (``self.strategy``, so a ``/reload_config`` is
followed) for ``_cap_gate_position_increase(pair, stake, enter_tag)`` and passes freqtrade the
stake it returns; 0 refuses the order (``execute_entry`` returns False, as freqtrade does for a
stake it cannot place; freqtrade's REST answer is then its generic "Failed to enter position",
so the cap tells the operator why itself: ``ENTRY_REFUSED``). The tag tells an operator's
``/forceenter`` (``force_entry``) from a strategy's DCA. Strategies without the mixin are
untouched.

A release where ``execute_entry`` no longer has what this relies on refuses to start
(:class:`FreqtradeChanged`): a silently missing gate would let ``/forceenter`` past the cap.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from trader247.patches import KEYWORD_ONLY, MARKER, POSITIONAL, Needs, installed, refuse

logger = logging.getLogger(__name__)

PATCH = "execute_entry_gate"
GATE = "_cap_gate_position_increase"
"""The strategy method (``ExposureCapMixin``) that returns the allowed stake of an increase."""
POSITION_ADJUST = "pos_adjust"
NEEDS = Needs("freqtrade.freqtradebot.FreqtradeBot.execute_entry", {
    "pair": POSITIONAL, "stake_amount": POSITIONAL, "trade": KEYWORD_ONLY, "mode": KEYWORD_ONLY,
})


def _gated(original: Any) -> Any:
    @functools.wraps(original)
    def execute_entry(self: Any, pair: str, stake_amount: float, *args: Any,
                      **kwargs: Any) -> Any:
        # trade and mode are keyword-only in freqtrade (NEEDS): they are always in kwargs.
        gate = getattr(self.strategy, GATE, None)
        if gate is not None and kwargs.get("trade") is not None \
                and kwargs.get("mode") == POSITION_ADJUST:
            stake_amount = gate(pair, stake_amount, kwargs.get("enter_tag"))
            if not stake_amount:
                return False
        return original(self, pair, stake_amount, *args, **kwargs)

    setattr(execute_entry, MARKER, PATCH)
    return execute_entry


def install(bot_class: Any = None) -> bool:
    """Gate ``bot_class.execute_entry`` (freqtrade's ``FreqtradeBot``); False if already done."""
    if bot_class is None:
        from freqtrade.freqtradebot import FreqtradeBot

        bot_class = FreqtradeBot
    current = bot_class.execute_entry
    if installed(current, PATCH):
        return False
    problems = NEEDS.problems(current)
    if problems:
        raise refuse(PATCH, problems)
    bot_class.execute_entry = _gated(current)
    logger.info("trader247 patch %s installed: position increases pass the at-risk cap", PATCH)
    return True
