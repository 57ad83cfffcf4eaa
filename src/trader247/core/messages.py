"""Chat messages: what the operator reads in Telegram (freqtrade ``send_msg``) and the logs.

Pure formatters over core objects, plus :class:`MessageGate`, a per-kind flood gate built on
:class:`~trader247.core.throttle.Throttle`, so a state that flaps or a trim loop cannot bury the
chat: at most ``limit`` messages of a kind per ``interval`` seconds (default 5 per 10 min), and
what was held back is announced ("N ... messages suppressed") once the window opens again.

Figures come from the same :class:`~trader247.core.exposure.Exposure` the gate and the trimmer
use; money is formatted in the stake currency (``$65.00``, ``0.0012 BTC``); reason strings use the
stable ``CODE: key=value`` format of the core.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from trader247.core.exposure import CapState, Exposure, format_stake
from trader247.core.symbols import asset_of
from trader247.core.throttle import Throttle
from trader247.core.trims import TrimOrder
from trader247.core.universe import UniverseResult, format_force_eligible_line, format_usd

__all__ = [
    "MessageGate",
    "UniverseChanges",
    "format_startup",
    "format_state_change",
    "format_trim_round",
    "format_universe_changes",
    "universe_changes",
]

_MAX_PAIRS = 10


def _pct(value: float) -> str:
    return f"{value:.1f}%" if math.isfinite(value) else "n/a (no equity)"


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _figures(exposure: Exposure, currency: str) -> str:
    return (
        f"at_risk {_pct(exposure.at_risk_pct)} ({format_stake(exposure.at_risk, currency)} of "
        f"{format_stake(exposure.equity, currency)} equity)"
    )


def format_state_change(
    previous: CapState,
    current: CapState,
    exposure: Exposure,
    *,
    stake_currency: str,
    plan_line: str | None = None,
    trimming: bool = True,
) -> str:
    """ACTIVE -> REDUCING (entries blocked, trimming) or REDUCING -> ACTIVE (entries allowed).

    ``plan_line`` (``trims.format_plan_line``) is appended when given. ``trimming`` False (trims
    disabled, or ``trim_on_start: false`` holding them at start): the message says that nothing
    is sold and entries wait for the target, instead of promising trims.
    """
    figures = _figures(exposure, stake_currency)
    cap = f"cap {exposure.cap_pct:.1f}% ({format_stake(exposure.cap_value, stake_currency)})"
    target = (
        f"target {exposure.target_pct:.1f}% "
        f"({format_stake(exposure.target_value, stake_currency)})"
    )
    if current is CapState.REDUCING and previous is not CapState.REDUCING:
        then = (f"trimming down to {target}." if trimming else
                f"no trims (nothing is sold): entries resume at or below {target}.")
        text = f"🔻 Exposure cap ACTIVE → REDUCING: {figures} > {cap}. New entries blocked; {then}"
    elif current is CapState.ACTIVE and previous is CapState.REDUCING:
        text = (
            f"✅ Exposure cap REDUCING → ACTIVE: {figures} <= {target}, {cap}. "
            f"Entries allowed again."
        )
    else:
        text = f"Exposure cap {current.value}: {figures}, {cap}."
    return f"{text}\n{plan_line}" if plan_line else text


def format_trim_round(
    orders: Sequence[TrimOrder],
    exposure: Exposure,
    *,
    stake_currency: str,
    latencies: Mapping[str, float] | None = None,
    cycle: int | None = None,
    max_pairs: int = _MAX_PAIRS,
) -> str:
    """One trim round: pairs, amounts and (once known) placement-to-fill latency.

    ``latencies`` maps pair -> seconds for the filled trims; with a mapping, a pair not in it is
    shown ``open``. Without one (the message sent when the round is placed) no status is shown.
    """
    total = sum(o.stake_to_sell for o in orders)
    where = f" (cycle {cycle})" if cycle is not None else ""
    noun = "order" if len(orders) == 1 else "orders"
    head = (
        f"✂️ Trim round{where}: {len(orders)} {noun} selling "
        f"{format_stake(total, stake_currency)}; at_risk {_pct(exposure.at_risk_pct)} "
        f"→ target {exposure.target_pct:.1f}% (cap {exposure.cap_pct:.1f}%)"
    )
    capped = sorted({limit for o in orders for limit in o.limits if limit != "total"})
    if capped:  # a cluster / asset cap: name it; the total's target only if it is trimmed too
        head = (f"✂️ Trim round{where}: {len(orders)} {noun} selling "
                f"{format_stake(total, stake_currency)} for {', '.join(capped)}; ")
        if any("total" in o.limits for o in orders):
            head += (f"at_risk {_pct(exposure.at_risk_pct)} → target "
                     f"{exposure.target_pct:.1f}% (cap {exposure.cap_pct:.1f}%)")
        else:
            head += f"total at_risk {_pct(exposure.at_risk_pct)} (cap {exposure.cap_pct:.1f}%)"
    lines = [head]
    for order in orders[:max_pairs]:
        amount = "full exit" if order.full_exit else f"{order.amount:.8g} {asset_of(order.pair)}"
        sell = format_stake(order.stake_to_sell, stake_currency)
        line = f"• {order.pair}: sell {sell} ({amount})"
        if latencies is not None:
            latency = latencies.get(order.pair)
            line += " open" if latency is None else f" filled in {_seconds(latency)}"
        lines.append(line)
    if len(orders) > max_pairs:
        lines.append(f"… and {len(orders) - max_pairs} more")
    if latencies is not None and orders and all(o.pair in latencies for o in orders):
        slowest = max(latencies[o.pair] for o in orders)
        lines.append(f"All filled; slowest {_seconds(slowest)}.")
    return "\n".join(lines)


@dataclass(frozen=True)
class UniverseChanges:
    """Whitelist difference between two refreshes. ``left`` holds ``(pair, reason)`` with the
    decision's ``CODE: key=value`` line (or ``NOT_LISTED`` when the market disappeared)."""

    joined: tuple[str, ...]
    left: tuple[tuple[str, str], ...]
    force_added: tuple[str, ...]
    force_removed: tuple[str, ...]
    size: int
    kept: bool = False

    @property
    def empty(self) -> bool:
        return not (self.joined or self.left or self.force_added or self.force_removed)


def universe_changes(previous_whitelist: Iterable[str], result: UniverseResult) -> UniverseChanges:
    """What changed since ``previous_whitelist`` (empty on the first refresh: every pair joins)."""
    before = tuple(previous_whitelist)
    before_set = set(before)
    now_set = set(result.whitelist)
    by_pair = result.by_pair
    left: list[tuple[str, str]] = []
    for pair in before:
        if pair in now_set:
            continue
        decision = by_pair.get(pair)
        reason = decision.format() if decision is not None else f"NOT_LISTED: pair={pair}"
        left.append((pair, reason))
    forced_now = result.state.force_eligible
    return UniverseChanges(
        joined=tuple(p for p in result.whitelist if p not in before_set),
        left=tuple(left),
        force_added=tuple(p for p in result.force_changes if p in forced_now),
        force_removed=tuple(p for p in result.force_changes if p not in forced_now),
        size=len(result.whitelist),
        kept=result.kept,
    )


def format_universe_changes(
    changes: UniverseChanges, result: UniverseResult, *, max_pairs: int = _MAX_PAIRS
) -> str | None:
    """Joined pairs (tier, USD volume), left pairs with their reason, force-eligible changes.
    ``None`` when nothing changed."""
    if changes.empty:
        return None
    by_pair = result.by_pair
    head = f"🌐 Universe: {changes.size} pairs (+{len(changes.joined)} −{len(changes.left)})"
    if changes.kept:
        head += " - data fault, previous whitelist kept"
    lines = [head]

    def capped(items: Sequence[str]) -> list[str]:
        out = list(items[:max_pairs])
        if len(items) > max_pairs:
            out.append(f"… and {len(items) - max_pairs} more")
        return out

    joined: list[str] = []
    for pair in changes.joined:
        decision = by_pair.get(pair)
        if decision is None:
            joined.append(f"➕ {pair}")
        else:
            joined.append(
                f"➕ {pair} ({decision.tier or 'no tier'}, {format_usd(decision.usd_volume)})"
            )
    lines += capped(joined)
    lines += capped([f"➖ {pair}: {reason}" for pair, reason in changes.left])
    forced: list[str] = []
    for pair in changes.force_added:
        decision = by_pair.get(pair)
        forced.append(format_force_eligible_line(decision) if decision else f"✅ {pair}")
    for pair in changes.force_removed:
        decision = by_pair.get(pair)
        why = decision.format() if decision is not None else f"NOT_LISTED: pair={pair}"
        forced.append(f"⚠️ no longer force-eligible: {why}")
    lines += capped(forced)
    return "\n".join(lines)


def format_startup(
    plan_line: str,
    *,
    universe: UniverseResult | None = None,
    bot_name: str = "247trader",
    dry_run: bool | None = None,
) -> str:
    """The start-up line: mode, universe size and core pairs, and the cap plan
    (``trims.format_plan_line``, e.g. ``at_risk 50.0% > cap 25.0%: trimming $70.20 ...``)."""
    mode = "" if dry_run is None else (" (dry-run)" if dry_run else " (LIVE)")
    parts = [f"🚀 {bot_name} started{mode}."]
    if universe is not None:
        forced = sorted(universe.state.force_eligible)
        text = f"Universe {len(universe.whitelist)} pairs"
        if forced:
            text += f" ({', '.join(forced)} force-eligible)"
        if universe.kept:
            text += ", kept from the previous refresh (data fault)"
        parts.append(text + ".")
    parts.append(f"Cap: {plan_line}")
    return " ".join(parts)


class MessageGate:
    """Per-kind flood gate: at most ``limit`` messages of one kind per ``interval`` seconds.

    ``offer`` returns the text to send now, or ``None`` when the kind is throttled (the message is
    counted and its text kept). The first message let through after a suppression carries a
    ``(+N ... suppressed)`` note, so a chat never exceeds ``limit`` messages per window and
    nothing disappears without a trace. ``flush`` sends a standalone summary (with the last
    suppressed text) for kinds whose window has room again but no new message: call it every
    iteration. ``now`` is a monotonic clock in seconds.
    """

    def __init__(self, limit: int = 5, interval: float = 600.0) -> None:
        # The budget of every kind, validated with the throttle's own messages; never asked to
        # allow anything itself: each kind gets a fresh throttle like it.
        self._rule = Throttle(limit, interval)
        self._throttles: dict[str, Throttle] = {}
        self._suppressed: dict[str, int] = {}
        self._last: dict[str, str] = {}
        self._total_suppressed = 0

    @property
    def rule(self) -> Throttle:
        """Each kind's budget: ``rule.limit`` messages per ``rule.interval`` seconds."""
        return self._rule

    @property
    def total_suppressed(self) -> int:
        """Messages held back since start (for a metric or a log line)."""
        return self._total_suppressed

    def suppressed(self, kind: str) -> int:
        """Messages of ``kind`` held back and not yet announced."""
        return self._suppressed.get(kind, 0)

    def _throttle(self, kind: str) -> Throttle:
        throttle = self._throttles.get(kind)
        if throttle is None:
            throttle = self._throttles[kind] = Throttle(self._rule.limit, self._rule.interval)
        return throttle

    def _window(self) -> str:
        minutes = self._rule.interval / 60.0
        return f"{minutes:g} min" if minutes >= 1 else f"{self._rule.interval:g} s"

    def offer(self, kind: str, text: str, now: float) -> str | None:
        if not self._throttle(kind).allow(now):
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            self._last[kind] = text
            self._total_suppressed += 1
            return None
        held = self._suppressed.pop(kind, 0)
        self._last.pop(kind, None)
        if held:
            noun = "message" if held == 1 else "messages"
            text += f"\n(+{held} earlier {kind} {noun} suppressed: limit {self._rule.limit} per "
            text += f"{self._window()})"
        return text

    def flush(self, now: float) -> list[str]:
        """Summaries for throttled kinds whose window has room again (each uses one slot)."""
        out: list[str] = []
        for kind in sorted(self._suppressed):
            throttle = self._throttle(kind)
            if throttle.remaining(now) <= 0:
                continue
            throttle.allow(now)
            held = self._suppressed.pop(kind)
            last = self._last.pop(kind, "")
            noun = "message" if held == 1 else "messages"
            summary = (
                f"⏸ {held} {kind} {noun} suppressed (limit {self._rule.limit} per {self._window()})"
            )
            if last:
                first_line = last.splitlines()[0]
                if len(first_line) > 200:
                    first_line = first_line[:199] + "…"
                summary += f"; last: {first_line}"
            out.append(summary)
        return out
