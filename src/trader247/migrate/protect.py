"""The original bot's loss stops and cool-downs as freqtrade's own protections.

Each becomes one entry of ``policy.yaml`` ``protections:`` (see ``trader247.protection_list``).
The windows and lock lengths are the nearest freqtrade can express; every row says which.

Per-symbol cooldowns are per-pair protections: ``CooldownPeriod`` after any close on the pair
(trade spacing, the win cooldown), ``LowProfitPairs`` after a loss and ``StoplossGuard`` with
``only_per_pair`` after a stop-loss. freqtrade keeps every lock, so a pair waits out the longest
one that applies, as the original's outcome cooldowns did.
"""

from __future__ import annotations

import math
from typing import Any

from trader247.core.config import show_value
from trader247.migrate.model import BadValue, Context, Row, Status, flag, number, quiet
from trader247.migrate.source import Leaf

POLICY = "policy.yaml"
DAY, WEEK, MONTH = 1440, 10080, 43200  # minutes


def _row(leaf: Leaf, entry: dict[str, Any], note: str) -> Row:
    return Row(leaf, Status.MAPPED, note, f"protection {entry['method']}", entry)


def _loss_pct(leaf: Leaf) -> float:
    """A loss limit as a positive ratio; the original wrote daily/weekly stops as negatives."""
    value = number(leaf, gt=-100, lt=100)
    if value == 0:
        raise BadValue("must be a loss limit other than 0 (got 0)")
    return round(abs(value) / 100, 10)


def daily_stop(ctx: Context, leaf: Leaf) -> Row:
    ratio = _loss_pct(leaf)
    entry = {"method": "MaxDrawdown", "calculation_mode": "equity", "lookback_period": DAY,
             "trade_limit": 1, "max_allowed_drawdown": ratio, "unlock_at": "00:00"}
    ctx.out.add_protection(entry, leaf)
    return _row(leaf, entry, "a drawdown of the account over a rolling day locks new entries "
                "until 00:00 UTC (freqtrade judges closed trades)")


def weekly_stop(ctx: Context, leaf: Leaf) -> Row:
    ratio = _loss_pct(leaf)
    entry = {"method": "MaxDrawdown", "calculation_mode": "equity", "lookback_period": WEEK,
             "trade_limit": 1, "max_allowed_drawdown": ratio, "stop_duration": DAY}
    ctx.out.add_protection(entry, leaf)
    return _row(leaf, entry, "a drawdown over a rolling week locks new entries for a day; the "
                "next losing close locks again while the week's loss lasts")


def max_drawdown(ctx: Context, leaf: Leaf) -> Row:
    ratio = round(number(leaf, gt=0, lt=100) / 100, 10)
    entry = {"method": "MaxDrawdown", "calculation_mode": "equity", "lookback_period": MONTH,
             "trade_limit": 1, "max_allowed_drawdown": ratio, "stop_duration": DAY}
    ctx.out.add_protection(entry, leaf)
    return _row(leaf, entry, "freqtrade needs a window: drawdown over 30 days locks new "
                "entries for a day at a time")


def _minutes(ctx: Context, *path: str, default: int) -> int:
    leaf = ctx.leaf(POLICY, *path)
    if leaf is None:
        return default
    try:
        return int(number(leaf, integer=True, ge=1))
    except BadValue:
        return default  # its own row reports it


def losses_in_a_row(ctx: Context, leaf: Leaf) -> Row:
    trades = int(number(leaf, integer=True, ge=1))
    pause = _minutes(ctx, "risk", "cooldown_minutes", default=60)
    entry = {"method": "StoplossGuard", "trade_limit": trades, "lookback_period": DAY,
             "stop_duration": pause, "required_profit": 0.0}
    ctx.out.add_protection(entry, leaf)
    return _row(leaf, entry, f"{trades} losing stop-loss exits within a day pause all entries "
                f"for {pause} min (freqtrade's StoplossGuard counts stop-loss exits, its nearest "
                "to losing trades in a row)")


def pause_minutes(ctx: Context, leaf: Leaf) -> Row:
    number(leaf, integer=True, ge=1)
    if ctx.src(POLICY, "risk", "cooldown_after_loss_trades") is None:
        return Row(leaf, Status.DROPPED, "no risk.cooldown_after_loss_trades to pause after")
    return Row(leaf, Status.COVERED, "stop_duration of the StoplossGuard of "
               "risk.cooldown_after_loss_trades")


def _per_symbol_on(ctx: Context) -> bool:
    leaf = ctx.leaf(POLICY, "risk", "per_symbol_cooldown_enabled")
    return leaf is None or leaf.value is True


def per_symbol_enabled(ctx: Context, leaf: Leaf) -> Row:
    on = flag(leaf)
    return Row(leaf, Status.COVERED, "switches the per-pair protections below "
               + ("on" if on else "off (none is written)"))


def _loss_lock(ctx: Context, leaf: Leaf, minutes: int) -> Row:
    entry = {"method": "LowProfitPairs", "trade_limit": 1, "required_profit": 0.0,
             "lookback_period": minutes, "stop_duration": minutes}
    ctx.out.add_protection(entry, leaf)
    return _row(leaf, entry, f"a pair whose trades in the last {minutes} min lost money is "
                f"locked for {minutes} min (LowProfitPairs per pair)")


def loss_cooldown(ctx: Context, leaf: Leaf) -> Row:
    """``per_symbol_cooldown_minutes``: the lock after a loss, until the original split it
    by outcome; with ``per_symbol_cooldown_loss_minutes`` present its TradeLimits read that."""
    minutes = int(number(leaf, integer=True, ge=1))
    if not _per_symbol_on(ctx):
        return Row(leaf, Status.DROPPED, "risk.per_symbol_cooldown_enabled is false")
    if ctx.src(POLICY, "risk", "per_symbol_cooldown_loss_minutes") is not None:
        return Row(leaf, Status.COVERED, "superseded in this version by the outcome cooldowns "
                   "(per_symbol_cooldown_loss_minutes / win_minutes / after_stop), which the "
                   "original read instead; their protections are written")
    return _loss_lock(ctx, leaf, minutes)


def loss_minutes(ctx: Context, leaf: Leaf) -> Row:
    minutes = int(number(leaf, integer=True, ge=1))
    if not _per_symbol_on(ctx):
        return Row(leaf, Status.DROPPED, "risk.per_symbol_cooldown_enabled is false")
    return _loss_lock(ctx, leaf, minutes)


def stop_cooldown(ctx: Context, leaf: Leaf) -> Row:
    minutes = int(number(leaf, integer=True, ge=1))
    if not _per_symbol_on(ctx):
        return Row(leaf, Status.DROPPED, "risk.per_symbol_cooldown_enabled is false")
    entry = {"method": "StoplossGuard", "trade_limit": 1, "only_per_pair": True,
             "lookback_period": minutes, "stop_duration": minutes, "required_profit": 0.0}
    ctx.out.add_protection(entry, leaf)
    return _row(leaf, entry, f"a pair stopped out is locked for {minutes} min")


def _spacing_minutes(ctx: Context) -> int | None:
    leaf = ctx.leaf(POLICY, "risk", "per_symbol_trade_spacing_seconds")
    seconds = None if leaf is None else quiet(lambda: number(leaf, ge=1), None)
    return None if seconds is None else max(1, math.ceil(seconds / 60))


def _win_minutes(ctx: Context) -> int | None:
    leaf = ctx.leaf(POLICY, "risk", "per_symbol_cooldown_win_minutes")
    if leaf is None or not _per_symbol_on(ctx):
        return None
    minutes: int | None = quiet(lambda: int(number(leaf, integer=True, ge=1)), None)
    return minutes


def _after_close(ctx: Context, leaf: Leaf, own: str) -> Row:
    """One CooldownPeriod for the two waits after every close on a pair (trade spacing and
    the win cooldown): the first of the two rows writes it with the longer wait."""
    spacing, win = _spacing_minutes(ctx), _win_minutes(ctx)
    minutes = max(m for m in (spacing, win) if m is not None)
    written = [e for e in ctx.out.get(POLICY, ("protections",)) or []
               if e.get("method") == "CooldownPeriod"]
    both = (f"trade spacing {spacing} min, win cooldown {win} min: the longer"
            if spacing is not None and win is not None else own)
    if written:
        return Row(leaf, Status.COVERED, f"the CooldownPeriod of {minutes} min above ({both})",
                   "protection CooldownPeriod", written[0])
    entry = {"method": "CooldownPeriod", "stop_duration": minutes}
    ctx.out.add_protection(entry, leaf)
    return _row(leaf, entry, f"no new trade on a pair for {minutes} min after any of its trades "
                f"closed ({both}); losses and stops add the longer locks of their rows")


def trade_spacing(ctx: Context, leaf: Leaf) -> Row:
    seconds = number(leaf, ge=1)
    return _after_close(ctx, leaf, f"{show_value(seconds)} s rounded up to whole minutes")


def win_cooldown(ctx: Context, leaf: Leaf) -> Row:
    number(leaf, integer=True, ge=1)
    if not _per_symbol_on(ctx):
        return Row(leaf, Status.DROPPED, "risk.per_symbol_cooldown_enabled is false")
    return _after_close(ctx, leaf, "after a win this is the whole wait")
