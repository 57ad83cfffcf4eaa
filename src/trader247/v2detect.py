"""Recognise a 247trader-v2 config file, so the validator says so in one line.

A user of the original bot who copies its ``config/policy.yaml`` next to our ``config.json`` got
85 ``unknown key`` lines from ``trader247 validate``. This tells them instead, in the first line,
that the file is the original bot's and that ``trader247 migrate`` converts it.

Decision: a file is a v2 file when its top level has a key no 247trader file has and that is
unmistakably the original bot's (``profile``, ``profiles``, ``eligibility_hysteresis``,
``regime_modifiers``, ``auto_tune``), or at least two of the original bot's other sections or
``risk`` keys. One stray section is more likely a typo, which the ordinary validation names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from trader247.core.config import Problem

UNMISTAKABLE: Final = ("profile", "profiles", "eligibility_hysteresis", "regime_modifiers",
                       "auto_tune")
V2_SECTIONS: Final = frozenset({
    "position_sizing", "triggers", "strategy", "microstructure", "circuit_breakers",
    "circuit_breaker", "regime", "execution", "portfolio_management", "ai", "governance",
    "data", "twap", "cooldowns", "loop", "universe", "app", "exchange", "state", "monitoring",
})
V2_RISK_KEYS: Final = frozenset({
    "max_open_positions", "max_position_size_pct", "daily_stop_pnl_pct", "weekly_stop_pnl_pct",
    "max_drawdown_pct", "max_trades_per_day", "cooldown_after_loss_trades", "stop_loss_pct",
    "take_profit_pct", "min_trade_notional_usd", "count_external_positions",
})
MIGRATE_HINT: Final = (
    "convert the original bot's config directory (policy.yaml, universe.yaml, app.yaml) with "
    "`trader247 migrate --from <v2 config dir> --to <new dir>` (docs/migration.md)"
)


def v2_markers(data: Mapping[str, Any]) -> list[str]:
    """The keys that mark ``data`` (a parsed top-level mapping) as a 247trader-v2 file."""
    sure = [key for key in UNMISTAKABLE if key in data]
    if sure:
        return sure
    found = [key for key in data if key in V2_SECTIONS]
    risk = data.get("risk")
    if isinstance(risk, Mapping):
        found += [f"risk.{key}" for key in risk if key in V2_RISK_KEYS]
    return found if len(found) >= 2 else []


def v2_problems(
    file: str, data: object, lines: Mapping[tuple[str | int, ...], int]
) -> list[Problem]:
    """One error for a v2 file (first marker's line), else ``[]``."""
    if not isinstance(data, Mapping):
        return []
    markers = v2_markers(data)
    if not markers:
        return []

    def line_of(marker: str) -> int:
        return lines.get(tuple(marker.split(".")), 0)

    markers.sort(key=line_of)
    shown = ", ".join(f"{key}:" for key in markers[:4]) + (", ..." if len(markers) > 4 else "")
    # The first line of the file that shows it: the section of the first marker.
    line = lines.get((markers[0].split(".")[0],))
    return [Problem(
        file, (),
        f"this is a 247trader-v2 file ({shown}), not a 247trader one: {MIGRATE_HINT}",
        line=line,
    )]
