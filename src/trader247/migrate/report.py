"""The Markdown migration report: one row per source key, grouped by source file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from trader247.core.config import show_value
from trader247.migrate.model import REPORT_FILE, Context, Migration, Row, Status
from trader247.migrate.source import SOURCE_FILES

CONFIG, POLICY = "config.json", "policy.yaml"
STATUS_ORDER = (Status.MAPPED, Status.COVERED, Status.DROPPED, Status.UNRECOGNISED,
                Status.ERROR)


def _cell(value: Any, limit: int = 60) -> str:
    if isinstance(value, dict):
        text = json.dumps(value, separators=(", ", ": "))
    elif isinstance(value, list):
        text = "[" + ", ".join(show_value(v, 30) for v in value) + "]"
    else:
        text = show_value(value, limit)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text else ""


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(row: Row) -> str:
    becomes = row.target
    if row.value is not None and row.status is Status.MAPPED:
        becomes += " = " + _cell(row.value)
    return (f"| {row.leaf.line} | `{row.leaf.key}` | {_cell(row.leaf.value, 40)} | "
            f"{row.status.value} | {_escape(becomes)} | {_escape(row.note)} |")


def explain(row: Row) -> str:
    """One row for the terminal: ``policy.yaml:72: risk.stop_loss_pct: mapped -> config.json
    stoploss = -0.1 (freqtrade's stoploss ...)``; covered and dropped rows give how / why."""
    head = f"{row.leaf.where}: {row.leaf.key}: "
    if row.status is Status.MAPPED:
        value = "" if row.value is None else " = " + _cell(row.value).strip("`")
        return f"{head}mapped -> {row.target}{value} ({row.note})"
    if row.status is Status.COVERED:
        return f"{head}covered by: {row.note}"
    if row.status is Status.DROPPED:
        return f"{head}dropped: {row.note}"
    return f"{head}{row.status.value}: {row.note}"


def summary_line(result: Migration) -> str:
    parts = [f"{result.count(s)} {s.value}" for s in STATUS_ORDER if result.count(s)]
    return f"{len(result.rows)} source keys: " + ", ".join(parts)


def _protections(ctx: Context) -> list[str]:
    lines = ["## Protections handed to freqtrade", "",
             "`Trader247Strategy.protections` (and the mixin recipe) returns these, in order "
             "(`trader247.protection_list.strategy_protections`):", "",
             '1. `{"method": "ExposureCap"}` (always; the at-risk cap)']
    for i, entry in enumerate(ctx.out.get(POLICY, ("protections",)) or [], start=2):
        lines.append(f"{i}. `{json.dumps(entry)}`")
    return [*lines, ""]


def _next_steps(result: Migration) -> list[str]:
    to = result.target_dir
    return [
        "## Next steps", "",
        f"1. `trader247 validate -c {to / CONFIG}` (done once by the migration: it passed).",
        f"2. `trader247 backtest -c {to / CONFIG} -- --timerange 20250101-` against the "
        "replay exchange, or `freqtrade backtesting -c ...` with real data.",
        f"3. `trader247 run -- -c {to / CONFIG}` starts a dry-run bot; go live only after "
        "setting `dry_run: false` and the exchange keys (environment variables "
        "`FREQTRADE__EXCHANGE__KEY` / `FREQTRADE__EXCHANGE__SECRET`).",
        "",
    ]


def render_report(result: Migration, ctx: Context) -> str:
    unexplained = result.count(Status.UNRECOGNISED)
    lines = [
        "# Migration from 247trader-v2", "",
        f"- Source: `{result.source_dir.resolve()}` ({', '.join(SOURCE_FILES)})",
        f"- Written: `{result.target_dir.resolve()}` ({CONFIG}, {POLICY}, universe.yaml, "
        f"{REPORT_FILE}) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- {summary_line(result)}",
        f"- Unexplained keys: **{unexplained}**"
        + (" (status `unrecognised` below: check them by hand)" if unexplained else ""),
        "",
        "Status: **mapped** = carried over to the named key with the value shown; **covered "
        "differently** = 247trader or freqtrade does this another way (how); **dropped** = no "
        "equivalent (why).", "",
    ]
    for name in SOURCE_FILES:
        rows = [row for row in result.rows if row.leaf.file == name]
        lines += [f"## {name} ({len(rows)} keys)", "",
                  "| Line | Key | Value | Status | Becomes | How / why |",
                  "|---:|---|---|---|---|---|",
                  *(_row(row) for row in rows), ""]
    lines += _protections(ctx)
    lines += ["## Derived and default settings", "",
              *(f"- {note}" for note in result.defaults),
              "- config.json: everything not named in a row above is 247trader's default "
              "(stake_amount unlimited, timeframe 1h, Trader247Strategy, dry_run true, "
              "dry_run_wallet 1000, TieredLiquidityPairList); the API server gets fresh secrets.",
              "- policy.yaml / universe.yaml: keys not written have 247trader's defaults.", ""]
    if result.warnings:
        lines += ["## Warnings of the validator", "", *(f"- {w}" for w in result.warnings), ""]
    lines += _next_steps(result)
    return "\n".join(lines)
