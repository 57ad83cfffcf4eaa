"""Run a migration: read, map every leaf, check what would be written, then write it at once.

Decisions:
- Nothing is written unless every source key has a row without an error and the written files
  pass 247trader's checks and freqtrade's own config validation (``trader247 validate``): the
  files go to a temporary directory next to ``--to``, are checked there, and the directory is
  renamed into place in one step. ``--to`` must not exist or be empty; ``force`` replaces the
  four files one by one (each atomically).
- An error in a written file is traced back to the source key it came from and reported as
  ``policy.yaml:6: risk.max_total_at_risk_pct: must be > 0 and <= 100 (got 150)``.
- The written config is always a dry-run config with no exchange keys and fresh API secrets.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from trader247.core.config import Problem, format_path
from trader247.core.plugin_names import PAIRLIST, STRATEGY
from trader247.migrate.model import (
    OUTPUT_FILES,
    REPORT_FILE,
    BadValue,
    Context,
    Migration,
    Row,
    Status,
)
from trader247.migrate.report import render_report
from trader247.migrate.source import SourceError, read_sources
from trader247.migrate.table import rule_for
from trader247.migrate.universe import fill_missing_floors, ordered_tiers

CONFIG, POLICY, UNIVERSE = "config.json", "policy.yaml", "universe.yaml"


class DestinationError(Exception):
    """``--to`` cannot take the files (not empty, no parent, a file)."""


def base_config() -> dict[str, Any]:
    """freqtrade config.json before any source key: 247trader's defaults, dry-run, no keys."""
    return {
        "$schema": "https://schema.freqtrade.io/schema.json",
        "bot_name": "247trader",
        "max_open_trades": 10,
        "stake_currency": "USD",
        "stake_amount": "unlimited",
        "tradable_balance_ratio": 0.99,
        "dry_run": True,
        "dry_run_wallet": 1000,
        "cancel_open_orders_on_exit": False,
        "trading_mode": "spot",
        "margin_mode": "",
        "timeframe": "1h",
        "strategy": STRATEGY,
        "initial_state": "running",
        "position_adjustment_enable": True,
        "unfilledtimeout": {"entry": 10, "exit": 10, "exit_timeout_count": 0, "unit": "minutes"},
        "entry_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1,
                          "price_last_balance": 0.0,
                          "check_depth_of_market": {"enabled": False, "bids_to_ask_delta": 1}},
        "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exchange": {"name": "coinbase", "key": "", "secret": "",
                     "ccxt_config": {"enableRateLimit": True},
                     "ccxt_async_config": {"enableRateLimit": True},
                     "pair_whitelist": [], "pair_blacklist": []},
        "pairlists": [{"method": PAIRLIST, "refresh_period": 300}],
        "api_server": {"enabled": False, "listen_ip_address": "127.0.0.1", "listen_port": 8080,
                       "verbosity": "error", "enable_openapi": False,
                       "jwt_secret_key": secrets.token_hex(32),
                       "ws_token": secrets.token_urlsafe(24), "CORS_origins": [],
                       "username": "freqtrader", "password": secrets.token_urlsafe(18)},
        "telegram": {"enabled": False, "token": "", "chat_id": ""},
        "dataformat_ohlcv": "feather",
        "internals": {"process_throttle_secs": 5, "heartbeat_interval": 60},
    }


def prepare(ctx: Context) -> None:
    ctx.out.docs[CONFIG] = base_config()
    profile = ctx.src(POLICY, "profile")
    profiles = ctx.src(POLICY, "profiles")
    if isinstance(profile, str) and isinstance(profiles, dict) and profile in profiles:
        ctx.active_profile = profile
    tiers = ctx.src(UNIVERSE, "tiers")
    ctx.tier_names = tuple(str(t) for t in tiers) if isinstance(tiers, dict) else ()
    for name in ordered_tiers(ctx):
        ctx.out.docs[UNIVERSE].setdefault("tiers", {})[name] = {"symbols": [], "constraints": {}}


def apply_rules(ctx: Context) -> list[Row]:
    rows = []
    for name in ("policy.yaml", "universe.yaml", "app.yaml"):
        for leaf in ctx.sources[name].leaves():
            handler = rule_for(name, leaf.path)
            if handler is None:
                rows.append(Row(leaf, Status.UNRECOGNISED,
                                "not a setting the migrator knows: check by hand"))
                continue
            try:
                rows.append(handler(ctx, leaf))
            except BadValue as exc:
                rows.append(Row(leaf, Status.ERROR, str(exc)))
    return rows


def finish(ctx: Context) -> list[str]:
    """Settings derived from several keys; returns their report lines."""
    notes = fill_missing_floors(ctx)
    stakes = ctx.out.get(POLICY, ("sizing", "tier_stake_pct")) or {}
    if stakes:
        tier, smallest = min(stakes.items(), key=lambda item: item[1])
        ctx.out.put(POLICY, ("sizing", "default_stake_pct"), smallest, None)
        notes.append(f"policy.yaml sizing.default_stake_pct = {smallest}: pairs in no tier are "
                     f"sized like the smallest tier ({tier})")
    if ctx.out.get(POLICY, ("protections",)):
        ctx.out.put(CONFIG, ("enable_protections",), True, None)
        notes.append("config.json enable_protections = true: backtests apply the protections "
                     "too (dry-run and live always do)")
    return notes


def render(ctx: Context, source_dir: Path) -> dict[str, str]:
    header = (f"# Written by `trader247 migrate` from {source_dir} on "
              f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {REPORT_FILE} says where each setting "
              "came from.\n# Every key not written here has 247trader's default "
              "(config/policy.yaml and config/universe.yaml of the package document them).\n")
    texts = {CONFIG: json.dumps(ctx.out.docs[CONFIG], indent=4, ensure_ascii=False) + "\n"}
    for name in (POLICY, UNIVERSE):
        body = yaml.safe_dump(ctx.out.docs[name], sort_keys=False, allow_unicode=True,
                              width=100, default_flow_style=False)
        texts[name] = header + "\n" + body
    return texts


def trace(ctx: Context, problem: Problem) -> str:
    """A problem of a written file, named by the source key it came from when known."""
    name = Path(problem.file).name
    leaf = ctx.out.origin(name, problem.path) if name in OUTPUT_FILES else None
    written = f"{name} {format_path(problem.path)}".rstrip()
    if leaf is None:
        return f"{written} (written): {problem.message}"
    return f"{leaf.where}: {leaf.key}: {problem.message} (written to {written})"


def check_written(ctx: Context, tmp: Path, *, freqtrade: bool) -> tuple[list[str], list[str]]:
    """247trader's checks, then freqtrade's (``trader247 validate``), of the files in ``tmp``."""
    if freqtrade:
        from trader247.preflight import run_preflight

        if Path("user_data").is_dir() or "user_data_dir" in ctx.out.docs[CONFIG]:
            problems, _ = run_preflight([str(tmp / CONFIG)])
        else:  # freqtrade refuses a config without a user dir; the user makes one later
            problems = _check_without_userdir(tmp)
    else:
        from trader247.configfiles import check_files

        problems = check_files(tmp / POLICY, tmp / UNIVERSE, dry_run=True)
    errors = [trace(ctx, p) for p in problems if p.severity == "error"]
    warnings = [trace(ctx, p) for p in problems if p.severity == "warning"]
    return errors, warnings


def _check_without_userdir(tmp: Path) -> list[Problem]:
    """Decision: a migration run where no freqtrade user directory exists yet (``./user_data``,
    freqtrade's default) checks the written config against a fresh throw-away one and warns
    once, instead of failing on freqtrade's "Directory user_data does not exist"."""
    from freqtrade.configuration.directory_operations import create_userdata_dir

    from trader247.preflight import run_preflight

    with tempfile.TemporaryDirectory(prefix="trader247-migrate-userdir-") as name:
        userdir = create_userdata_dir(str(Path(name) / "user_data"), create_dir=True)
        problems, _ = run_preflight([str(tmp / CONFIG)], userdir=str(userdir))
    note = Problem(str(tmp / CONFIG), (), "no freqtrade user directory here (./user_data): "
                   "checked against a new one; create yours before `freqtrade trade` with "
                   "`freqtrade create-userdir --userdir user_data`", severity="warning")
    return [note, *problems]


def _target_ready(target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise DestinationError(f"{target} is a file, not a directory")
    if not target.parent.is_dir():
        raise DestinationError(f"{target.parent} does not exist")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise DestinationError(f"{target} is not empty; choose a new directory or pass --force "
                               f"to replace {', '.join((*OUTPUT_FILES, REPORT_FILE))} in it")


def move_into_place(tmp: Path, target: Path) -> None:
    """One rename when ``target`` is new or empty; else replace each file atomically."""
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    if not target.exists():
        os.rename(tmp, target)
        return
    for item in tmp.iterdir():
        os.replace(item, target / item.name)
    tmp.rmdir()


def migrate(source_dir: str | os.PathLike[str], target_dir: str | os.PathLike[str], *,
            force: bool = False, check_freqtrade: bool = True) -> Migration:
    """Migrate one v2 config directory; see the module doc. Never raises on bad input:
    ``result.errors`` lists it, and then nothing is written."""
    result = Migration(Path(source_dir), Path(target_dir))
    try:
        _target_ready(result.target_dir, force)
        ctx = Context(read_sources(result.source_dir))
    except SourceError as exc:
        result.errors = exc.lines()
        return result
    except DestinationError as exc:
        result.errors, result.usage_error = [str(exc)], True
        return result
    prepare(ctx)
    result.rows = apply_rules(ctx)
    result.defaults = finish(ctx)
    result.errors = [row.line() for row in result.rows if row.status is Status.ERROR]
    if result.errors:
        return result
    result.texts = render(ctx, result.source_dir.resolve())
    tmp = Path(tempfile.mkdtemp(prefix=f".{result.target_dir.name}.migrate-",
                                dir=result.target_dir.parent))
    try:
        for name, content in result.texts.items():
            (tmp / name).write_text(content, encoding="utf-8")
        result.errors, result.warnings = check_written(ctx, tmp, freqtrade=check_freqtrade)
        if result.errors:
            return result
        report = render_report(result, ctx)
        result.texts[REPORT_FILE] = report
        (tmp / REPORT_FILE).write_text(report, encoding="utf-8")
        move_into_place(tmp, result.target_dir)
        result.written = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result
