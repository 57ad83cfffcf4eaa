"""Exits and orders: the original bot's stop, take-profit, trailing stop, exit checks
(``policy.yaml`` ``exits:``) and order types, as freqtrade's ``stoploss``, ``minimal_roi``,
``trailing_stop*``, ``order_types`` and ``entry_pricing`` / ``exit_pricing``.

freqtrade checks every open trade's exits each iteration: the stoploss, the ROI table, the
trailing stop, the strategy's exit signals and its ``custom_exit``. The original switched each
of its checks in ``exits:`` (``enabled``, ``check_stop_loss``, ``check_take_profit``, ...). A
check that is off there means the matching ``risk.*`` value never acted, so it is not carried
over: the same key changes meaning with the ``exits:`` section of its version, and the row says
which one applied. Versions before ``exits:`` existed checked stops and targets always.

The trailing stop (``exits.use_trailing_stop`` / ``trailing_stop_pct``) trailed N % under the
highest price since the entry, next to the fixed stop, so the stop in force was
``max(entry x (1 - stop), high x (1 - trail))``. In freqtrade: a trail at most as wide as the
fixed stop is ``stoploss: -trail`` with ``trailing_stop: true`` (it is the higher of the two from
the entry on); a wider trail keeps ``stoploss: -stop`` and trails by
``trailing_stop_positive: trail`` once the trade is in profit (offset 0), which is the same
maximum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from trader247.core.config import show_value
from trader247.migrate.model import BadValue, Context, Row, Status, flag, number, quiet, text
from trader247.migrate.source import Leaf

POLICY, CONFIG = "policy.yaml", "config.json"
ORDER_TYPES: Final = {"limit_post_only": "limit", "limit": "limit", "market": "market"}
# limit_ioc fills at once or not at all: a limit at the other side of the book fills at once
# too (Coinbase in freqtrade takes GTC orders only); the rest waits for unfilledtimeout.
EXIT_ORDER_TYPES: Final = {**ORDER_TYPES, "limit_ioc": "limit"}
STOP_KEYS: Final = ("stoploss", "trailing_stop", "trailing_stop_positive",
                    "trailing_stop_positive_offset")


def _exits(ctx: Context) -> dict[str, Any]:
    value = ctx.src(POLICY, "exits")
    return value if isinstance(value, dict) else {}


def check_on(ctx: Context, check: str) -> bool:
    """Did the original act on ``check`` (``check_stop_loss``, ...)? Yes without ``exits:``."""
    exits = _exits(ctx)
    return exits.get("enabled") is not False and exits.get(check) is not False


def _pct(ctx: Context, *path: str) -> float | None:
    leaf = ctx.leaf(POLICY, *path)
    if leaf is None:
        return None
    pct: float | None = quiet(lambda: number(leaf, gt=0, lt=100), None)
    return pct


@dataclass(frozen=True)
class StopPlan:
    """The stop in force: the fixed stop and the trail, in %, ``None`` where not in force."""

    stop_pct: float | None
    trail_pct: float | None

    @classmethod
    def of(cls, ctx: Context) -> StopPlan:
        stop = _pct(ctx, "risk", "stop_loss_pct") if check_on(ctx, "check_stop_loss") else None
        trailing = _exits(ctx).get("use_trailing_stop") is True and check_on(ctx, "enabled")
        return cls(stop, _pct(ctx, "exits", "trailing_stop_pct") if trailing else None)

    @property
    def trail_only(self) -> bool:
        """The trail is at least as tight as the fixed stop from the entry on."""
        return self.trail_pct is not None and (
            self.stop_pct is None or self.trail_pct <= self.stop_pct)

    def config(self) -> dict[str, Any]:
        if self.trail_pct is None:
            return {} if self.stop_pct is None else {"stoploss": _ratio(-self.stop_pct)}
        if self.trail_only:
            return {"stoploss": _ratio(-self.trail_pct), "trailing_stop": True}
        assert self.stop_pct is not None
        return {"stoploss": _ratio(-self.stop_pct), "trailing_stop": True,
                "trailing_stop_positive": _ratio(self.trail_pct),
                "trailing_stop_positive_offset": 0.0}

    def write(self, ctx: Context, leaf: Leaf) -> dict[str, Any]:
        settings = self.config()
        for key, value in settings.items():
            ctx.out.put(CONFIG, (key,), value, leaf)
        return settings


def _ratio(pct: float) -> float:
    return round(pct / 100, 10)


def _off(check: str) -> str:
    return f"exits.{check} is false in this file: the original never acted on it"


def stoploss(ctx: Context, leaf: Leaf) -> Row:
    number(leaf, gt=0, lt=100)
    plan = StopPlan.of(ctx)
    if plan.stop_pct is None:
        return Row(leaf, Status.DROPPED, _off("check_stop_loss (or enabled)") + "; "
                   "Trader247Strategy's own stoploss stays")
    if plan.trail_only:
        return Row(leaf, Status.COVERED, f"the trailing stop ({show_value(plan.trail_pct)} %, "
                   "exits.trailing_stop_pct) is tighter from the entry on, so this stop could "
                   "never act first; freqtrade's stoploss is the trailing one",
                   f"{CONFIG} stoploss", plan.config()["stoploss"])
    value = plan.write(ctx, leaf)["stoploss"]
    return Row(leaf, Status.MAPPED, "freqtrade's stoploss (a ratio; it overrides the strategy's "
               "hard floor, per-trigger stops stay inside it)", f"{CONFIG} stoploss", value)


def take_profit(ctx: Context, leaf: Leaf) -> Row:
    pct = number(leaf, gt=0)
    if not check_on(ctx, "check_take_profit"):
        return Row(leaf, Status.DROPPED, _off("check_take_profit (or enabled)") + "; no ROI "
                   "table is written (Trader247Strategy's trend trades run until the trend ends)")
    roi = {"0": _ratio(pct)}
    ctx.out.put(CONFIG, ("minimal_roi",), roi, leaf)
    return Row(leaf, Status.MAPPED, "freqtrade's ROI table: exit at this profit at any trade "
               "age (overrides the strategy's safety-net ROI)", f"{CONFIG} minimal_roi", roi)


def trailing(ctx: Context, leaf: Leaf) -> Row:
    """``exits.use_trailing_stop`` and ``exits.trailing_stop_pct``: one freqtrade setting."""
    own = flag(leaf) if leaf.path[-1] == "use_trailing_stop" else number(leaf, gt=0, lt=100)
    if _exits(ctx).get("use_trailing_stop") is not True:
        if leaf.path[-1] == "trailing_stop_pct":
            return Row(leaf, Status.DROPPED, "exits.use_trailing_stop is not true: the original "
                       "did not trail")
        ctx.out.put(CONFIG, ("trailing_stop",), False, leaf)
        return Row(leaf, Status.MAPPED, "no trailing stop", f"{CONFIG} trailing_stop", own)
    if not check_on(ctx, "enabled"):
        return Row(leaf, Status.DROPPED, _off("enabled"))
    plan = StopPlan.of(ctx)
    if plan.trail_pct is None:
        return Row(leaf, Status.DROPPED, "no valid exits.trailing_stop_pct: nothing to trail by")
    settings = plan.write(ctx, leaf)
    if plan.trail_only:
        how = (f"trails {show_value(plan.trail_pct)} % under the highest price from the entry "
               "on (stoploss = -trail, trailing_stop)")
    else:
        how = (f"the fixed stop (risk.stop_loss_pct {show_value(plan.stop_pct)} %) holds until "
               f"the trade is in profit, then the stop trails {show_value(plan.trail_pct)} % "
               "under the highest price (trailing_stop_positive, offset 0)")
    return Row(leaf, Status.MAPPED, how, f"{CONFIG} " + ", ".join(settings),
               {k: v for k, v in settings.items() if k in STOP_KEYS})


SWITCHES: Final = {
    "enabled": "freqtrade checks every open trade's exits each iteration (stoploss, ROI table, "
               "trailing stop, exit signals, custom_exit)",
    "check_stop_loss": "risk.stop_loss_pct is carried over as freqtrade's stoploss",
    "check_take_profit": "risk.take_profit_pct is carried over as freqtrade's minimal_roi",
    "check_max_hold": "Trader247Strategy ends its trigger trades after the trigger's max hold "
                      "(custom_exit max_hold_*); its trend trades have none (they leave when "
                      "the trend is lost)",
}
SWITCHES_OFF: Final = {
    "enabled": "freqtrade cannot switch its exit checks off: the strategy's own stoploss and "
               "exit signals still act; risk.stop_loss_pct / take_profit_pct / the trailing "
               "stop are not carried over (their rows)",
    "check_stop_loss": "risk.stop_loss_pct is not carried over: Trader247Strategy's own "
                       "stoploss stays",
    "check_take_profit": "risk.take_profit_pct is not carried over (no ROI table)",
    "check_max_hold": "the original did not end trades by age; Trader247Strategy's trigger "
                      "trades still do (custom_exit), its trend trades do not",
}


def exit_switch(ctx: Context, leaf: Leaf) -> Row:
    key = str(leaf.path[-1])
    on = flag(leaf)
    if key != "enabled" and not check_on(ctx, "enabled"):
        return Row(leaf, Status.DROPPED, _off("enabled"))
    if key not in SWITCHES:
        return Row(leaf, Status.COVERED, f"{key}: a check of the original's exit manager; "
                   + SWITCHES["enabled"])
    if on:
        return Row(leaf, Status.COVERED, SWITCHES[key])
    status = Status.DROPPED if key == "enabled" else Status.COVERED
    return Row(leaf, status, SWITCHES_OFF[key])


# --------------------------------------------------------------------------- order types


def _kind(leaf: Leaf | None, kinds: dict[str, str]) -> str | None:
    if leaf is None:
        return None
    kind: str | None = quiet(lambda: _checked_kind(leaf, kinds), None)
    return kind


def _checked_kind(leaf: Leaf, kinds: dict[str, str]) -> str:
    kind = text(leaf)
    if kind not in kinds:
        raise BadValue(f"must be one of {', '.join(kinds)} (got {show_value(kind)})")
    return kind


def _side(kind: str) -> str:
    """Which side of the book a limit order of ``kind`` is priced at."""
    return "same" if kind in ("limit", "limit_post_only") else "other"


def _write_orders(ctx: Context, leaf: Leaf) -> tuple[str, str]:
    """order_types and pricing sides from default_order_type and exits.exit_order_type."""
    entry = _kind(ctx.leaf(POLICY, "execution", "default_order_type"), ORDER_TYPES) or "limit"
    exit_ = entry
    if check_on(ctx, "enabled"):
        exit_ = _kind(ctx.leaf(POLICY, "exits", "exit_order_type"), EXIT_ORDER_TYPES) or entry
    ctx.out.put(CONFIG, ("order_types",), {
        "entry": ORDER_TYPES[entry], "exit": EXIT_ORDER_TYPES[exit_],
        "emergency_exit": "market", "force_entry": "market", "force_exit": "market",
        "stoploss": "market", "stoploss_on_exchange": False}, leaf)
    ctx.out.put(CONFIG, ("entry_pricing", "price_side"), _side(entry), leaf)
    ctx.out.put(CONFIG, ("exit_pricing", "price_side"), _side(exit_), leaf)
    return entry, exit_


def order_type(ctx: Context, leaf: Leaf) -> Row:
    kind = _checked_kind(leaf, ORDER_TYPES)
    _, exit_ = _write_orders(ctx, leaf)
    note = f"freqtrade order_types entry {ORDER_TYPES[kind]}, entry_pricing price_side " \
           f"{_side(kind)}"
    if exit_ == kind:
        note += " (exits alike)"
    if kind == "limit_post_only":
        note += ("; freqtrade's Coinbase support has no post-only time in force (GTC only): "
                 "limit orders at the own side of the book are the nearest")
    return Row(leaf, Status.MAPPED, note, f"{CONFIG} order_types", ORDER_TYPES[kind])


def exit_order_type(ctx: Context, leaf: Leaf) -> Row:
    kind = _checked_kind(leaf, EXIT_ORDER_TYPES)
    if not check_on(ctx, "enabled"):
        return Row(leaf, Status.DROPPED, _off("enabled"))
    _write_orders(ctx, leaf)
    note = (f"freqtrade order_types exit {EXIT_ORDER_TYPES[kind]}, exit_pricing price_side "
            f"{_side(kind)}")
    if kind == "limit_ioc":
        note += ("; no IOC for Coinbase in freqtrade (GTC only): a limit at the other side of "
                 "the book fills at once like IOC, a rest is re-placed after unfilledtimeout")
    return Row(leaf, Status.MAPPED, note, f"{CONFIG} order_types.exit", EXIT_ORDER_TYPES[kind])


def limit_offset(ctx: Context, leaf: Leaf) -> Row:
    bps = number(leaf, ge=0)
    if bps == 0:
        return Row(leaf, Status.COVERED, "joining the top of the book is entry/exit_pricing "
                   "price_side 'same' with use_order_book (set with default_order_type)")
    return Row(leaf, Status.COVERED, "freqtrade prices limit orders at the book's top "
               "(price_side 'same'); an offset inside the spread is not configurable")
