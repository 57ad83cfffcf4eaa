"""Problem reporting: what is wrong with a config file, where, and the value as written.

Checks return :class:`Problem` lists instead of stopping at the first one; the loader
(``trader247.configfiles``) adds the line and prints ``file:line: key.path: message``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

__all__ = ["Found", "PathElem", "Problem", "Severity", "closest", "format_path", "show_value"]

Severity = Literal["error", "warning"]
PathElem = str | int


def format_path(path: Iterable[PathElem]) -> str:
    """``("tiers", "tier_1_core", "symbols", 2)`` -> ``tiers.tier_1_core.symbols[2]``."""
    out = ""
    for elem in path:
        if isinstance(elem, int):
            out += f"[{elem}]"
        else:
            out += f".{elem}" if out else str(elem)
    return out


def show_value(value: object, limit: int = 40) -> str:
    """A value as the user wrote it in YAML, for ``(got ...)``: ``250``, ``'25%'``, ``null``."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif (
        isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
        and abs(value) < 1e16
    ):
        text = str(int(value))
    elif isinstance(value, float | int):
        text = repr(value)
    elif isinstance(value, dict):
        text = "a mapping"
    elif isinstance(value, list | tuple):
        text = "a list"
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file. ``path`` is the key path inside the file."""

    file: str
    path: tuple[PathElem, ...]
    message: str
    line: int | None = None
    severity: Severity = "error"
    column: int | None = None

    def format(self) -> str:
        """``config/policy.yaml:49: risk.max_total_at_risk_pct: must be > 0 ... (got 250)``."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        parts = [where]
        if self.path:
            parts.append(format_path(self.path))
        parts.append(("warning: " if self.severity == "warning" else "") + self.message)
        return ": ".join(parts)

    def __str__(self) -> str:
        return self.format()

@dataclass
class Found:
    """Problems of one file, collected in order."""

    file: str
    items: list[Problem]

    def error(self, path: tuple[PathElem, ...], message: str) -> None:
        self.items.append(Problem(self.file, path, message))

    def warning(self, path: tuple[PathElem, ...], message: str) -> None:
        self.items.append(Problem(self.file, path, message, severity="warning"))


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``word`` was most likely meant to be, for ``(did you mean ...?)``."""
    hits = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return hits[0] if hits else None
