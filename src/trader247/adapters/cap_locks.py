"""The ``EXPOSURE_OVER_CAP`` lock: a projection of the cap state on freqtrade's lock store.

While the cap is REDUCING one global freqtrade lock exists (visible in ``/locks``, FreqUI's Pair
Locks and Telegram); as soon as the state is ACTIVE again it is lifted. Freqtrade's ``PairLocks``
is the store (database in dry-run / live, memory in backtesting).

Decision: the lock follows the state, not the other way round. Deleting it (FreqUI's delete
button, ``DELETE /api/v1/locks/{id}``) does not allow entries, since the state still blocks
them; so in dry-run and live (``watch``) the store is read every iteration while REDUCING and a
deleted lock is re-created within one iteration (``sync`` answers ``"restored"``, the adapter
tells the operator once). Backtests read the store only when the state may differ from what was
last set (first candle, a state change, a lock about to expire): nobody deletes locks there, and
it keeps the per-candle cost flat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from freqtrade.persistence import PairLocks
from freqtrade.persistence.pairlock import PairLock

from trader247.core.cap_notices import LockChange
from trader247.core.words import Word

LOCK_PREFIX = str(Word.EXPOSURE_OVER_CAP)
LOCK_SPAN = timedelta(hours=24)
RENEW_BEFORE = timedelta(hours=1)


@dataclass
class LockSync:
    """``sync(reason, now)`` once per iteration; ``reason`` None lifts the lock. Returns what
    changed (None: nothing). ``reason`` (attribute): the lock's reason while one is set."""

    watch: bool = False
    locked_until: datetime | None = None
    reason: str | None = None
    checked: bool = False

    def reset(self) -> None:
        self.locked_until = None
        self.reason = None
        self.checked = False

    def sync(self, reason: str | None, now: datetime) -> LockChange | None:
        if not self._may_differ(reason, now):
            return None
        self.checked = True
        ours = [lock for lock in PairLocks.get_pair_locks("*", now)
                if (lock.reason or "").startswith(LOCK_PREFIX)]
        if reason is None:
            return self._lift(ours, now)
        had = self.locked_until is not None
        if ours and not (self.locked_until is not None
                         and self.locked_until - now <= RENEW_BEFORE):
            self.locked_until = max(lock.lock_end_time_utc for lock in ours)
            if self.watch:
                self._show(ours, reason)
                self.reason = reason
            else:
                self.reason = self.reason or reason
            return None
        self.locked_until = now + LOCK_SPAN
        self.reason = reason
        PairLocks.lock_pair("*", self.locked_until, reason, now=now)
        if ours:
            return None  # renewed before it expires
        return "restored" if had else "placed"

    def _show(self, ours: list[PairLock], reason: str) -> None:
        """The lock's reason shows the current at-risk, not the one of the iteration that placed
        it (an operator watching Pair Locks during trims saw 33.1 % while the book was at 30.7 %).
        Written only when its text changes (one decimal), so a calm episode costs no commits."""
        stale = [lock for lock in ours if lock.reason != reason]
        for lock in stale:
            lock.reason = reason
        if stale and PairLocks.use_db:
            PairLock.session.commit()

    def _may_differ(self, reason: str | None, now: datetime) -> bool:
        """Whether the store must be read: always while REDUCING when ``watch``."""
        if not self.checked or (reason is None) != (self.locked_until is None):
            return True
        if reason is None:
            return False
        return self.watch or self.locked_until is None or (
            self.locked_until - now <= RENEW_BEFORE)

    def _lift(self, ours: list[PairLock], now: datetime) -> LockChange | None:
        # Deactivate the rows themselves: in backtesting freqtrade's unlock_reason compares lock
        # ends with the wall clock, not the candle time, and would miss them. The end is moved to
        # now, so the lock's span is the REDUCING episode (a backtest result's locks show
        # exactly when entries were blocked).
        for lock in ours:
            lock.active = False
            lock.lock_end_time = now
        if ours and PairLocks.use_db:
            PairLock.session.commit()
        was_set = self.locked_until is not None
        self.locked_until = None
        self.reason = None
        # A lock set by freqtrade's protection (ExposureCap) counts too.
        return "lifted" if ours or was_set else None
