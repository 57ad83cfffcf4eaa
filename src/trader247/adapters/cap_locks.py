"""The ``EXPOSURE_OVER_CAP`` lock: one global freqtrade lock per REDUCING episode.

Set while the cap is REDUCING (visible in ``/locks``, FreqUI and Telegram), lifted as soon as
the state is ACTIVE again. Freqtrade's ``PairLocks`` is the store (database in dry-run / live,
memory in backtesting).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from freqtrade.persistence import PairLocks
from freqtrade.persistence.pairlock import PairLock

logger = logging.getLogger(__name__)

LOCK_PREFIX = "EXPOSURE_OVER_CAP"
LOCK_SPAN = timedelta(hours=24)


@dataclass
class LockSync:
    """The lock store is read only when the state may differ from what we last set (first
    iteration, a state change, a lock about to expire), which keeps the per-candle cost of
    backtests flat."""

    locked_until: datetime | None = None
    checked: bool = False

    def reset(self) -> None:
        self.locked_until = None
        self.checked = False

    def sync(self, reason: str | None, now: datetime) -> None:
        if self.checked and (reason is None) == (self.locked_until is None) and (
            self.locked_until is None or self.locked_until - now > timedelta(hours=1)
        ):
            return
        self.checked = True
        ours = [lock for lock in PairLocks.get_pair_locks("*", now)
                if (lock.reason or "").startswith(LOCK_PREFIX)]
        if reason is None:
            self._lift(ours, now)
            return
        self.locked_until = now + LOCK_SPAN
        PairLocks.lock_pair("*", self.locked_until, reason, now=now)
        if not ours:
            logger.warning("%s: entries blocked until exposure is back under target", reason)

    def _lift(self, ours: list[PairLock], now: datetime) -> None:
        # Deactivate the rows themselves: in backtesting freqtrade's unlock_reason compares lock
        # ends with the wall clock, not the candle time, and would miss them. The end is moved to
        # now, so the lock's span is the REDUCING episode (a backtest result's locks show
        # exactly when entries were blocked).
        for lock in ours:
            lock.active = False
            lock.lock_end_time = now
        if ours:
            if PairLocks.use_db:
                PairLock.session.commit()
            logger.info("exposure back under target: entries resume (lock lifted)")
        self.locked_until = None
