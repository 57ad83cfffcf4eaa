"""What the original bot's settings become: handlers for freqtrade's and our keys.

Every handler takes the context and one leaf and returns its report row, writing what it maps
into ``ctx.out``. Values are checked where they are transformed (fractions to percent, basis
points to ratios, percent to freqtrade's ratios); values copied as they are, are checked by our
own config models afterwards and their errors traced back to the source line (``build.trace``).
Protections are in ``protect``, universe settings in ``universe``, the table in ``table``.

Decisions (each also in the row's note, so the report explains itself):
- The live/dry mode is never carried over: the written config is a dry-run one.
- Two source keys for one setting (``risk.max_open_positions`` and
  ``strategy.max_open_positions``; ``max_position_size_pct`` and ``max_per_asset_pct``): the
  stricter value wins.
- ``profile:`` selects one of ``profiles:``; its values apply (tier stakes, conviction, order
  floor) and the other profiles are dropped, by name, in the report.
Orders, stops and exits are in ``exits``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from trader247.core.config import PolicyConfig, show_value
from trader247.core.plugin_names import PAIRLIST
from trader247.migrate.model import (
    BadValue,
    Context,
    Row,
    Status,
    flag,
    number,
    quiet,
    text,
)
from trader247.migrate.source import Leaf

Handler = Callable[[Context, Leaf], Row]
POLICY, UNIVERSE, CONFIG = "policy.yaml", "universe.yaml", "config.json"


def mapped(leaf: Leaf, file: str, path: tuple[str | int, ...], value: Any, note: str) -> Row:
    return Row(leaf, Status.MAPPED, note, f"{file} {'.'.join(map(str, path))}", value)


def drop(why: str) -> Handler:
    return lambda ctx, leaf: Row(leaf, Status.DROPPED, why)


def cover(how: str) -> Handler:
    return lambda ctx, leaf: Row(leaf, Status.COVERED, how)


def _ours(path: tuple[str, ...]) -> bool:
    """Is ``section.key`` a key of 247trader's policy.yaml?"""
    if len(path) != 2:
        return False
    section = PolicyConfig.model_fields.get(path[0])
    model = section.annotation if section is not None else None
    return isinstance(model, type) and issubclass(model, BaseModel) and path[1] in (
        model.model_fields)


def same_key(ctx: Context, leaf: Leaf) -> Row:
    """A key 247trader has under the same name: copied, checked by our model."""
    path = tuple(str(p) for p in leaf.path)
    if not _ours(path):
        return Row(leaf, Status.UNRECOGNISED, "not a setting the migrator knows: check by hand")
    ctx.out.put(POLICY, path, leaf.value, leaf)
    return mapped(leaf, POLICY, path, leaf.value, "same key and meaning in 247trader")


def old_global_floor(ctx: Context, leaf: Leaf) -> Row:
    """Early versions kept the global volume floor under ``microstructure``."""
    if ctx.src(POLICY, "liquidity", "min_24h_volume_usd") is not None:
        return Row(leaf, Status.COVERED, "liquidity.min_24h_volume_usd of the same file is the "
                   "global floor (the original moved it there)")
    number(leaf, gt=0)
    path = ("liquidity", "min_24h_volume_usd")
    ctx.out.put(POLICY, path, leaf.value, leaf)
    return mapped(leaf, POLICY, path, leaf.value, "the global 24 h USD volume floor")


def to_policy(path: tuple[str, ...], note: str = "") -> Handler:
    def handler(ctx: Context, leaf: Leaf) -> Row:
        ctx.out.put(POLICY, path, leaf.value, leaf)
        return mapped(leaf, POLICY, path, leaf.value, note)

    return handler


# --------------------------------------------------------------------------- tiers and sizing


def tier_index(key: str) -> int | None:
    """``T1``, ``tier1``, ``tier_1``, ``1`` -> 0."""
    digits = "".join(ch for ch in key if ch.isdigit())
    rest = key.lower().replace("_", "").rstrip("0123456789")
    if not digits or rest not in ("t", "tier", ""):
        return None
    return int(digits) - 1


def tier_for(ctx: Context, key: str) -> str:
    index = tier_index(key)
    if index is None or not 0 <= index < len(ctx.tier_names):
        raise BadValue(
            f"{key} names no tier of universe.yaml (tiers in file order: "
            f"{', '.join(ctx.tier_names) or 'none'})"
        )
    return ctx.tier_names[index]


def stake_fraction(ctx: Context, leaf: Leaf, source: str) -> Row:
    fraction = number(leaf, gt=0, le=1)
    tier = tier_for(ctx, str(leaf.path[-1]))
    pct = round(fraction * 100, 10)
    path = ("sizing", "tier_stake_pct", tier)
    ctx.out.put(POLICY, path, pct, leaf)
    return mapped(leaf, POLICY, path, pct,
                  f"{source}: fraction of NLV {show_value(fraction)} = {show_value(pct)} % of "
                  f"equity for tier {tier}")


def base_position(ctx: Context, leaf: Leaf) -> Row:
    profile = ctx.active_profile
    if profile and ctx.src(POLICY, "profiles", profile, "tier_sizing") is not None:
        return Row(leaf, Status.COVERED,
                   f"the active profile {profile}'s tier_sizing sets the tier stakes instead")
    return stake_fraction(ctx, leaf, "tier stake")


def profile_key(ctx: Context, leaf: Leaf) -> Row:
    name = text(leaf)
    profiles = ctx.src(POLICY, "profiles")
    if not isinstance(profiles, dict) or name not in profiles:
        known = ", ".join(profiles) if isinstance(profiles, dict) else "no profiles: section"
        raise BadValue(f"unknown profile {name} (defined: {known})")
    others = [str(p) for p, v in profiles.items() if p != name and isinstance(v, dict)]
    note = (f"active profile: profiles.{name} supplies the tier stakes (sizing.tier_stake_pct), "
            "the conviction and the order floor (its rows below)")
    note += f"; ignored: {', '.join(others)}" if others else "; no other profile"
    return Row(leaf, Status.MAPPED, note, f"profiles.{name}")


def profile_stray(ctx: Context, leaf: Leaf) -> Row:
    """A value right under ``profiles:`` (one version indents ``min_trade_notional`` there)."""
    return Row(leaf, Status.DROPPED, f"not inside a profile: the original read settings only "
               f"from profiles.<profile>, so it never read profiles.{leaf.path[-1]} (an "
               "indentation slip in that version of the file)")


def profile_entry(ctx: Context, leaf: Leaf) -> Row:
    name, rest = str(leaf.path[1]), tuple(str(p) for p in leaf.path[2:])
    if ctx.active_profile is None:
        return Row(leaf, Status.DROPPED, "no profile: key selects a profile, so the original "
                   "applied none of them")
    if name != ctx.active_profile:
        return Row(leaf, Status.DROPPED, f"inactive profile (profile: {ctx.active_profile})")
    head = rest[0] if rest else ""
    if head == "tier_sizing" and len(rest) == 2:
        return stake_fraction(ctx, leaf, f"profile {name} tier_sizing")
    if head == "max_position_pct" and len(rest) == 2:
        number(leaf, gt=0, le=1)
        return Row(leaf, Status.COVERED, "247trader has one per-asset cap for every tier: "
                   "risk.max_per_asset_pct (from risk.max_per_asset_pct/max_position_size_pct, "
                   "the stricter)")
    if rest == ("min_conviction",):
        return conviction(ctx, leaf)
    if rest == ("min_trade_notional",):
        return min_notional(ctx, leaf)
    return Row(leaf, Status.UNRECOGNISED, f"profile setting {'.'.join(rest)} is not known to "
               "the migrator: check by hand")


def conviction(ctx: Context, leaf: Leaf) -> Row:
    value = number(leaf, ge=0, le=1)
    profile = ctx.active_profile
    if leaf.path[0] == "strategy" and profile and isinstance(
            ctx.src(POLICY, "profiles", profile, "min_conviction"), int | float):
        return Row(leaf, Status.COVERED,
                   f"the active profile {profile}'s min_conviction applies instead")
    return Row(leaf, Status.COVERED,
               f"Trader247Strategy's buy_conviction (default 0.30, hyperopt range 0.15-0.60); to "
               f'use {show_value(value)}, put {{"params": {{"buy": {{"buy_conviction": '
               f"{show_value(value)}}}}}}} in user_data/strategies/Trader247Strategy.json")


def min_notional(ctx: Context, leaf: Leaf) -> Row:
    return Row(leaf, Status.COVERED, "freqtrade sizes every order at least at the exchange's "
               "minimum (market limits); a higher floor of our own does not exist")


# --------------------------------------------------------------------------- freqtrade keys


def max_open(ctx: Context, leaf: Leaf) -> Row:
    value = int(number(leaf, integer=True, ge=1))
    kept = ctx.out.put_min(CONFIG, ("max_open_trades",), value, leaf)
    note = "freqtrade's slot limit"
    if kept != value:
        note += f"; the smaller of the two settings ({show_value(kept)}) is kept"
    return mapped(leaf, CONFIG, ("max_open_trades",), value, note)


def pyramiding(ctx: Context, leaf: Leaf) -> Row:
    """Three source keys, one freqtrade key; each row checks only its own value."""
    if leaf.path[-1] == "allow_pyramiding":
        flag(leaf)
    else:
        number(leaf, integer=True, ge=0)
    switches = [ctx.leaf(POLICY, "risk", "allow_pyramiding"),
                ctx.leaf(POLICY, "position_sizing", "allow_pyramiding")]
    allowed = all(switch is None or switch.value is not False for switch in switches)
    adds_leaf = ctx.leaf(POLICY, "position_sizing", "max_pyramid_positions")
    adds = -1
    if adds_leaf is not None:
        adds = quiet(lambda: int(number(adds_leaf, integer=True, ge=0)), -1)
    value = adds if allowed else 0
    ctx.out.put(CONFIG, ("max_entry_position_adjustment",), value, leaf)
    return mapped(leaf, CONFIG, ("max_entry_position_adjustment",), value,
                  "freqtrade's limit on adds to an open trade (0: none, -1: unlimited); "
                  "position_adjustment_enable stays true because cap trims are partial exits")


def fee(ctx: Context, leaf: Leaf) -> Row:
    bps = number(leaf, ge=0, lt=1000)
    value = round(bps / 10_000, 10)
    ctx.out.put(CONFIG, ("fee",), value, leaf)
    return mapped(leaf, CONFIG, ("fee",), value, "freqtrade's simulated fee in dry-run and "
                  "backtests (the taker fee: the original fell back to taker orders); live "
                  "trading uses the fee Coinbase reports")


def unfilled(ctx: Context, leaf: Leaf) -> Row:
    seconds = int(number(leaf, integer=True, ge=1))
    value = {"entry": seconds, "exit": seconds, "exit_timeout_count": 0, "unit": "seconds"}
    ctx.out.put(CONFIG, ("unfilledtimeout",), value, leaf)
    return mapped(leaf, CONFIG, ("unfilledtimeout",), value, "freqtrade cancels unfilled "
                  "entries and re-places unfilled exits after this time (checked every "
                  "iteration)")


def loop_interval(ctx: Context, leaf: Leaf) -> Row:
    factor = 60 if leaf.path[-1] == "interval_minutes" else 1
    seconds = number(leaf, gt=0) * factor
    value = max(1, int(round(seconds)))
    if ctx.out.written(CONFIG, ("internals", "process_throttle_secs")):
        existing = ctx.out.get(CONFIG, ("internals", "process_throttle_secs"))
        return Row(leaf, Status.COVERED, "same setting as the main loop interval already "
                   f"mapped (internals.process_throttle_secs = {existing})")
    ctx.out.put(CONFIG, ("internals", "process_throttle_secs"), value, leaf)
    return mapped(leaf, CONFIG, ("internals", "process_throttle_secs"), value,
                  "freqtrade's iteration interval (cap trims count these iterations)")


def refresh_period(ctx: Context, leaf: Leaf) -> Row:
    seconds = int(number(leaf, integer=True, ge=1))
    existing = ctx.out.get(CONFIG, ("pairlists",))[0].get("refresh_period")
    if ctx.out.written(CONFIG, ("pairlists", 0, "refresh_period")):
        return Row(leaf, Status.COVERED, f"same setting as the universe cache already mapped "
                   f"({PAIRLIST} refresh_period = {existing})")
    ctx.out.docs[CONFIG]["pairlists"][0]["refresh_period"] = seconds
    ctx.out.origins[(CONFIG, ("pairlists", 0, "refresh_period"))] = leaf
    return Row(leaf, Status.MAPPED, "how often the universe is recomputed",
               f"pairlist {PAIRLIST} refresh_period", seconds)


def universe_size(ctx: Context, leaf: Leaf) -> Row:
    value = int(number(leaf, integer=True, ge=1))
    ctx.out.docs[CONFIG]["pairlists"][0]["number_assets"] = value
    ctx.out.origins[(CONFIG, ("pairlists", 0, "number_assets"))] = leaf
    return Row(leaf, Status.MAPPED, "at most this many pairs in the whitelist",
               f"pairlist {PAIRLIST} number_assets", value)


def bot_name(ctx: Context, leaf: Leaf) -> Row:
    value = text(leaf)
    ctx.out.put(CONFIG, ("bot_name",), value, leaf)
    return mapped(leaf, CONFIG, ("bot_name",), value, "freqtrade's bot name (Telegram, API)")


MODES = ("DRY_RUN", "PAPER", "LIVE")


def app_mode(ctx: Context, leaf: Leaf) -> Row:
    mode = text(leaf).upper()
    if mode not in MODES:
        raise BadValue(f"must be one of {', '.join(MODES)} (got {show_value(leaf.value)})")
    how = "the migrated config starts in dry-run (dry_run: true) whatever the mode"
    if mode == "LIVE":
        how += ("; go live with dry_run: false once the dry-run looks right (keys from "
                "FREQTRADE__EXCHANGE__KEY/SECRET; `trader247 validate` checks live settings)")
    return Row(leaf, Status.COVERED, how, f"{CONFIG} dry_run", True)


def exchange_name(ctx: Context, leaf: Leaf) -> Row:
    value = text(leaf).lower()
    ctx.out.put(CONFIG, ("exchange", "name"), value, leaf)
    return mapped(leaf, CONFIG, ("exchange", "name"), value, "ccxt's exchange class")


def metrics(key: str) -> Handler:
    def handler(ctx: Context, leaf: Leaf) -> Row:
        path = ("metrics", key)
        ctx.out.put(POLICY, path, leaf.value, leaf)
        return mapped(leaf, POLICY, path, leaf.value, "247trader's Prometheus exporter")

    return handler


def healthcheck(ctx: Context, leaf: Leaf) -> Row:
    value: bool | int
    if leaf.path[-1] == "healthcheck_enabled":
        path, value = ("api_server", "enabled"), flag(leaf)
    else:
        path, value = ("api_server", "listen_port"), int(number(leaf, integer=True, ge=1,
                                                                  le=65535))
    ctx.out.put(CONFIG, path, value, leaf)
    return mapped(leaf, CONFIG, path, value, "freqtrade's REST API (/api/v1/ping is the health "
                  "check; FreqUI, `trader247 stop --liquidate`); fresh secrets are written")


def count_external(ctx: Context, leaf: Leaf) -> Row:
    path = ("risk", "count_external_holdings")
    ctx.out.put(POLICY, path, leaf.value, leaf)
    return mapped(leaf, POLICY, path, leaf.value, "count wallet holdings the bot did not open")


def asset_cap(ctx: Context, leaf: Leaf) -> Row:
    value = number(leaf, gt=0, le=100)
    path = ("risk", "max_per_asset_pct")
    kept = ctx.out.put_min(POLICY, path, value, leaf)
    note = "at-risk cap per asset (all its pairs), % of equity (entries clamped, trims)"
    if kept != value:
        note += f"; the smaller of max_position_size_pct / max_per_asset_pct ({kept}) is kept"
    return mapped(leaf, POLICY, path, value, note)
