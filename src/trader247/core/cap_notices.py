"""What the operator is told about each cap decision (README "What the operator sees").

One :class:`Notice` per decision that changes or blocks an operator's command or a position:
an entry clamped or refused, the global lock placed, re-created or lifted, a position valued at
a price that is not current. (The REDUCING state change and each trim round are chat messages of
:mod:`trader247.core.messages`; their log lines are here and in :mod:`trader247.core.trims`.)

A notice carries two renderings of one decision, both starting with its word
(:class:`~trader247.core.words.Word`):

- ``log``: one line in the stable ``CODE: key=value`` format, at ``level`` (a refusal, a lock
  placed or re-created and a fallback mark are ``warning``, the rest ``info``);
- ``text``: the chat message (freqtrade's ``strategy_msg``: Telegram, webhooks), in words, money
  in the stake currency.

:class:`EpisodeThrottle` keeps a repeated decision from flooding both: one notice per word and
pair per episode (a strategy's entry signal is refused every iteration while the cap has no
room). The adapter decides which decisions bypass it (an operator's ``/forceenter`` is answered
every time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from trader247.core.exposure import CapState, EntryDecision, Exposure, format_stake
from trader247.core.words import Word

Level = Literal["info", "warning"]
LockChange = Literal["placed", "restored", "lifted"]
MarkSource = Literal["candle_close", "open_rate"]

# Flood-gate kinds (``messages.MessageGate``): each has its own budget per window. An operator's
# answers (``/forceenter``) have one of their own, so a strategy's refusals cannot use it up.
CLAMP_KIND, REFUSAL_KIND, LOCK_KIND, MARK_KIND = "clamp", "refusal", "lock", "mark"
FORCE_ENTRY_KIND = "forceenter"
NEGLIGIBLE_SHARE = 100.0  # an allowed stake under min_stake / 100 counts as no headroom


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str
    word: Word
    pair: str | None
    level: Level
    log: str
    text: str


@dataclass(frozen=True, slots=True)
class EntryRequest:
    """One entry the gate decided. ``forced``: an operator's ``/forceenter`` (Telegram
    ``/forcelong``); ``held``: it increases an open position; ``fleet``: the fleet's gate
    decided it (the account's exposure, not this bot's)."""

    pair: str
    requested: float
    forced: bool
    held: bool
    fleet: bool = False

    @property
    def via(self) -> str:
        return "force_entry" if self.forced else "strategy"

    @property
    def label(self) -> str:
        if self.forced:
            return "/forceenter, increase of a held position" if self.held else "/forceenter"
        return "position increase" if self.held else "entry signal"


def _num(value: float) -> str:
    return f"{value:.10g}"


def _pct(value: float) -> str:
    return f"{value:.1f}%" if math.isfinite(value) else "n/a"


def _field(reason: str, key: str) -> str | None:
    for token in reason.split():
        name, sep, value = token.partition("=")
        if sep and name == key:
            return value
    return None


def headroom(exposure: Exposure) -> float:
    """What an entry may still add: up to the target (the gate's bound); float noise within the
    exposure's tolerance is none, and it is never negative."""
    room = exposure.target_value - exposure.at_risk
    return room if room > exposure.tolerance else 0.0


def refusal_word(decision: EntryDecision, *, fleet: bool) -> Word:
    """Why an entry was refused, in one word (module doc of :mod:`trader247.core.words`)."""
    code = decision.reason.partition(":")[0]
    if code in (Word.FLEET_OVER_CAP, Word.FLEET_UNAVAILABLE, Word.TRIM_COOLDOWN,
                Word.CLUSTER_OVER_CAP, Word.ASSET_OVER_CAP):
        return Word(code)
    if code == Word.EXPOSURE_OVER_CAP:
        return Word.FLEET_OVER_CAP if fleet else Word.EXPOSURE_OVER_CAP
    limited_by = _field(decision.reason, "limited_by") or ""
    if fleet and limited_by == "headroom":
        return Word.FLEET_OVER_CAP  # the account's room is what refused it
    stake = float(_field(decision.reason, "stake") or 0.0)
    minimum = float(_field(decision.reason, "min_stake") or 0.0)
    # Less than a hundredth of the minimum is what fills leave over at the target (a
    # $30.00065 grant filled as $30.00): no headroom, not "a stake too small".
    if limited_by not in ("proposed", "max_stake") and stake <= minimum / NEGLIGIBLE_SHARE:
        return Word.NO_HEADROOM
    return Word.BELOW_MIN_STAKE


def _figures_log(exposure: Exposure | None) -> str:
    if exposure is None:
        return ""
    return (f" at_risk={_pct(exposure.at_risk_pct)} cap={exposure.cap_pct:.1f}% "
            f"target={exposure.target_pct:.1f}% headroom={_num(headroom(exposure))}")


def _figures_text(exposure: Exposure | None, currency: str, whose: str) -> str:
    if exposure is None:
        return ""
    money = format_stake
    return (f" {whose}at_risk {_pct(exposure.at_risk_pct)} ({money(exposure.at_risk, currency)} "
            f"of {money(exposure.equity, currency)} equity); cap {exposure.cap_pct:.1f}%, "
            f"entries fill up to target {exposure.target_pct:.1f}%: headroom "
            f"{money(headroom(exposure), currency)}.")


def _why_text(word: Word, decision: EntryDecision, exposure: Exposure | None,
              currency: str) -> str:
    target = "the target" if exposure is None else f"target {exposure.target_pct:.1f}%"
    minimum = float(_field(decision.reason, "min_stake") or 0.0)
    allowed = float(_field(decision.reason, "stake") or 0.0)
    limited_by = _field(decision.reason, "limited_by") or "headroom"
    texts = {
        Word.EXPOSURE_OVER_CAP: f"the cap is REDUCING: no entries until at_risk <= {target}",
        Word.FLEET_OVER_CAP: f"the fleet's account has no room under its cap (fills up to "
                             f"{target})",
        Word.FLEET_UNAVAILABLE: "the fleet database does not answer: no entries until it does",
        Word.NO_HEADROOM: (f"no headroom: at_risk is at {target}, where entries stop"
                           if limited_by == "headroom" else f"no headroom in {limited_by}"),
        Word.BELOW_MIN_STAKE: f"the cap allows {format_stake(allowed, currency)} "
                              f"({limited_by}), below the exchange minimum "
                              f"{format_stake(minimum, currency)}",
        Word.TRIM_COOLDOWN: "the pair was trimmed recently: no re-entry during "
                            "reentry_cooldown_cycles",
        Word.CLUSTER_OVER_CAP: "its cluster is over its cap",
        Word.ASSET_OVER_CAP: "its asset is over its cap",
    }
    return texts.get(word, decision.reason)


def entry_notice(request: EntryRequest, decision: EntryDecision, exposure: Exposure | None,
                 *, stake_currency: str) -> Notice | None:
    """The notice of one gate decision; None when the cap changed nothing (granted in full, or
    limited only by freqtrade's own ``max_stake``, which freqtrade applies and logs itself)."""
    pair, currency = request.pair, stake_currency
    position = "held" if request.held else "new"
    scope = " scope=fleet" if request.fleet else ""
    whose = "fleet " if request.fleet else ""
    if decision.stake is not None:
        limited_by = _field(decision.reason, "limited_by")
        if limited_by is None or limited_by == "max_stake":
            return None
        log = (f"{Word.ENTRY_CLAMPED}: pair={pair} via={request.via} position={position} "
               f"requested={_num(request.requested)} granted={_num(decision.stake)} "
               f"limited_by={limited_by}{scope}{_figures_log(exposure)}")
        text = (f"📏 {Word.ENTRY_CLAMPED} {pair} ({request.label}): "
                f"{format_stake(request.requested, currency)} requested, "
                f"{format_stake(decision.stake, currency)} granted (limited by {limited_by})."
                f"{_figures_text(exposure, currency, whose)}")
        return Notice(FORCE_ENTRY_KIND if request.forced else CLAMP_KIND, Word.ENTRY_CLAMPED,
                      pair, "info", log, text)
    word = refusal_word(decision, fleet=request.fleet)
    log = (f"{Word.ENTRY_REFUSED} {word}: pair={pair} via={request.via} position={position} "
           f"requested={_num(request.requested)}{scope}{_figures_log(exposure)}; "
           f"reason {decision.reason}")
    text = (f"⛔ {Word.ENTRY_REFUSED} {pair} ({request.label}, "
            f"{format_stake(request.requested, currency)}): "
            f"{_why_text(word, decision, exposure, currency)}."
            f"{_figures_text(exposure, currency, whose)} [{decision.reason}]")
    return Notice(FORCE_ENTRY_KIND if request.forced else REFUSAL_KIND, Word.ENTRY_REFUSED,
                  pair, "warning", log, text)


def lock_notice(change: LockChange, reason: str, exposure: Exposure | None) -> Notice:
    """The global ``EXPOSURE_OVER_CAP`` lock placed, re-created after a deletion, or lifted.

    ``reason`` is the lock's reason (``exposure.over_cap_reason``). The log lines keep the
    phrases the end-to-end tests and soak labs wait for ("entries blocked until exposure is back
    under target", "entries resume (lock lifted)")."""
    target = "the target" if exposure is None else f"target {exposure.target_pct:.1f}%"
    at_risk = "" if exposure is None else f"at_risk {_pct(exposure.at_risk_pct)}, "
    if change == "placed":
        return Notice(LOCK_KIND, Word.CAP_LOCK_PLACED, None, "warning",
                      f"{Word.CAP_LOCK_PLACED}: {reason}: entries blocked until exposure is "
                      "back under target",
                      f"🔒 {Word.CAP_LOCK_PLACED}: global lock \"{reason}\" (FreqUI Pair "
                      f"Locks, /locks): no entries until at_risk <= {target}.")
    if change == "restored":
        return Notice(LOCK_KIND, Word.CAP_LOCK_RESTORED, None, "warning",
                      f"{Word.CAP_LOCK_RESTORED}: {reason}: the lock was deleted while the cap "
                      "is REDUCING; re-created (deleting it does not allow entries)",
                      f"🔒 {Word.CAP_LOCK_RESTORED}: the cap's lock was deleted, but the cap "
                      f"is still REDUCING ({at_risk}entries resume at or below {target}): "
                      f"lock re-created as \"{reason}\". Deleting it does not allow entries.")
    return Notice(LOCK_KIND, Word.CAP_LOCK_LIFTED, None, "info",
                  f"{Word.CAP_LOCK_LIFTED}: exposure back under target: entries resume "
                  "(lock lifted)",
                  f"🔓 {Word.CAP_LOCK_LIFTED}: {at_risk}back at or below {target}: "
                  "the EXPOSURE_OVER_CAP lock is lifted, entries allowed.")


def mark_notice(pair: str, source: MarkSource, price: float) -> Notice:
    """A position valued at a fallback price: neither a price freqtrade fetched since the
    previous iteration nor a ticker answered (an exchange fault, a delisted market)."""
    what = ("the last analyzed candle's close" if source == "candle_close"
            else "the trade's open rate (no candle either)")
    return Notice(MARK_KIND, Word.MARK_FALLBACK, pair, "warning",
                  f"{Word.MARK_FALLBACK}: pair={pair} source={source} price={_num(price)} "
                  "(no current ticker or order book: the cap values this position at a price "
                  "that may be stale)",
                  f"⚠️ {Word.MARK_FALLBACK} {pair}: no current price (ticker and order book "
                  f"failed); the cap values it at {what}, {_num(price)}, until prices return. "
                  "At-risk and trims of this pair may be off.")


def state_log_line(previous: CapState, current: CapState, exposure: Exposure) -> str:
    """The log line of a state change (its chat text: ``messages.format_state_change``)."""
    return (f"{Word.CAP_STATE}: {previous.value} -> {current.value}: "
            f"at_risk={_pct(exposure.at_risk_pct)} cap={exposure.cap_pct:.1f}% "
            f"target={exposure.target_pct:.1f}%")


class EpisodeThrottle:
    """One notice per ``(word, pair)`` per episode; repeats are counted, never dropped silently.

    An episode of a pair ends with :meth:`end` (its situation cleared: an entry granted in
    full, a current mark again), of every pair with :meth:`new_episode` (the cap changed state).
    ``remind_after`` (seconds, None: never): a key passes again that long after it last passed,
    so a situation that lasts for days is not announced only once. ``now``: a monotonic clock.
    """

    def __init__(self, remind_after: float | None = None) -> None:
        if remind_after is not None and not (0 < remind_after < math.inf):
            raise ValueError(f"remind_after must be > 0 or None, got {remind_after!r}")
        self._remind_after = remind_after
        self._passed: dict[tuple[str, str], float] = {}
        self._repeats: dict[tuple[str, str], int] = {}

    def allow(self, word: str, pair: str, now: float) -> bool:
        key = (word, pair)
        passed = self._passed.get(key)
        if passed is None or (self._remind_after is not None
                              and now - passed >= self._remind_after):
            self._passed[key] = now
            return True
        self._repeats[key] = self._repeats.get(key, 0) + 1
        return False

    def repeats(self, word: str, pair: str) -> int:
        """Notices of ``(word, pair)`` held back in its current episode."""
        return self._repeats.get((word, pair), 0)

    def end(self, pair: str) -> None:
        for key in [k for k in self._passed if k[1] == pair]:
            del self._passed[key]
            self._repeats.pop(key, None)

    def new_episode(self) -> None:
        self._passed.clear()
        self._repeats.clear()
