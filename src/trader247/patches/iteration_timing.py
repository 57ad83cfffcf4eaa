"""``FreqtradeBot.process``: one bot iteration is timed for the ``/metrics`` histograms.

Why a patch: freqtrade exposes no hook at the start and end of an iteration
(``bot_loop_start`` runs in its middle, after the markets reload, the whitelist refresh and the
candle download, which are what the iteration histogram must include). The worker calls
``self.freqtrade.process()`` once per iteration; the wrapper calls ``begin(bot)`` before it and
``record(bot, seconds)`` after it, also when it raises (the bot: each bot finds its own runtime
through its config, so the class-level patch serves every bot of the process).

Installed when our metrics exporter starts (dry-run / live only). The callbacks are passed in so
this module imports nothing of ours. On a release where ``process`` takes arguments the patch
is not installed: one error names the function and the bot runs without iteration times.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from trader247.patches import MARKER, Needs, installed, refuse

logger = logging.getLogger(__name__)

PATCH = "iteration_timing"
NEEDS = Needs("freqtrade.freqtradebot.FreqtradeBot.process", {}, exact=True)


def _timed(original: Any, begin: Callable[[Any], None],
           record: Callable[[Any, float], None]) -> Any:
    @functools.wraps(original)
    def process(self: Any) -> Any:
        begin(self)
        start = time.perf_counter()
        try:
            return original(self)
        finally:
            record(self, time.perf_counter() - start)

    setattr(process, MARKER, PATCH)
    return process


def install(begin: Callable[[Any], None], record: Callable[[Any, float], None],
            bot_class: Any = None) -> bool:
    """Time ``bot_class.process`` (freqtrade's ``FreqtradeBot``); False if not (or already)."""
    if bot_class is None:
        from freqtrade.freqtradebot import FreqtradeBot

        bot_class = FreqtradeBot
    current = bot_class.process
    if installed(current, PATCH):
        return False
    found = NEEDS.problems(current)
    if found:
        logger.error("%s: no iteration times in /metrics", refuse(PATCH, found))
        return False
    bot_class.process = _timed(current, begin, record)
    logger.info("trader247 patch %s installed: bot iterations are timed for /metrics", PATCH)
    return True
