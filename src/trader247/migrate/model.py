"""Plain data of a migration: report rows, the three output documents, the running context."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from trader247.core.config import Bounds, show_value
from trader247.migrate.source import Leaf, Path_, SourceFile


class Status(StrEnum):
    MAPPED = "mapped"
    COVERED = "covered differently"
    DROPPED = "dropped"
    UNRECOGNISED = "unrecognised"
    ERROR = "error"


@dataclass(frozen=True)
class Row:
    """One source key: what it became (``target``, ``value``) and why (``note``)."""

    leaf: Leaf
    status: Status
    note: str
    target: str = ""
    value: Any = None

    def line(self) -> str:
        """``policy.yaml:6: risk.max_total_at_risk_pct: <note>`` for errors on the terminal."""
        return f"{self.leaf.where}: {self.leaf.key}: {self.note}"


class BadValue(Exception):
    """A source value a rule cannot take; the message reads ``must be ... (got ...)``."""


OUTPUT_FILES = ("config.json", "policy.yaml", "universe.yaml")
REPORT_FILE = "MIGRATION.md"


@dataclass
class Output:
    """The documents being written, and for every written path the leaf it came from."""

    docs: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {name: {} for name in OUTPUT_FILES}
    )
    origins: dict[tuple[str, Path_], Leaf] = field(default_factory=dict)

    def put(self, file: str, path: Path_, value: Any, leaf: Leaf | None) -> None:
        node: Any = self.docs[file]
        for elem in path[:-1]:
            node = node.setdefault(elem, {})
        node[path[-1]] = value
        if leaf is not None:
            self.origins.setdefault((file, path), leaf)

    def get(self, file: str, path: Path_) -> Any:
        node: Any = self.docs[file]
        for elem in path:
            if not isinstance(node, dict) or elem not in node:
                return None
            node = node[elem]
        return node

    def put_min(self, file: str, path: Path_, value: float, leaf: Leaf) -> float:
        """Two source keys for one setting: the stricter (smaller) value wins."""
        current = self.get(file, path) if (file, path) in self.origins else None
        if current is None or value < current:
            self.put(file, path, value, leaf)
            self.origins[(file, path)] = leaf
            return value
        return float(current)

    def add_protection(self, entry: dict[str, Any], leaf: Leaf) -> None:
        protections = self.docs["policy.yaml"].setdefault("protections", [])
        protections.append(entry)
        self.origins[("policy.yaml", ("protections", len(protections) - 1))] = leaf

    def written(self, file: str, path: Path_) -> bool:
        """Has a source key (not a default) set ``path``?"""
        return (file, path) in self.origins

    def origin(self, file: str, path: Path_) -> Leaf | None:
        """The leaf behind ``path`` or its nearest written parent."""
        for end in range(len(path), 0, -1):
            leaf = self.origins.get((file, path[:end]))
            if leaf is not None:
                return leaf
        return None


@dataclass
class Context:
    """What rules read (the sources and facts derived from them) and write (the output)."""

    sources: dict[str, SourceFile]
    out: Output = field(default_factory=Output)
    active_profile: str | None = None
    tier_names: tuple[str, ...] = ()
    theme_clusters: dict[str, str | None] = field(default_factory=dict)

    def src(self, file: str, *path: str | int) -> Any:
        return self.sources[file].get(*path)

    def leaf(self, file: str, *path: str | int) -> Leaf | None:
        source = self.sources[file]
        value = source.get(*path)
        return None if value is None else Leaf(file, tuple(path), value, source.line(path))


def number(
    leaf: Leaf,
    *,
    integer: bool = False,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> float:
    """The leaf's value as a number in range, else :class:`BadValue`."""
    value = leaf.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadValue(f"must be a number (got {show_value(value)})")
    if not math.isfinite(value):
        raise BadValue(f"must be a finite number (got {show_value(value)})")
    if integer and not float(value).is_integer():
        raise BadValue(f"must be a whole number (got {show_value(value)})")
    bounds = Bounds(gt=gt, ge=ge, lt=lt, le=le)
    if not bounds.contains(float(value)):
        raise BadValue(f"{bounds.describe()} (got {show_value(value)})")
    return int(value) if integer else float(value)


def quiet(read: Callable[[], Any], default: Any) -> Any:
    """A sibling's value for a combined setting; its own row reports it if it is bad."""
    try:
        return read()
    except BadValue:
        return default


def flag(leaf: Leaf) -> bool:
    if not isinstance(leaf.value, bool):
        raise BadValue(f"must be true or false (got {show_value(leaf.value)})")
    return leaf.value


def text(leaf: Leaf) -> str:
    if not isinstance(leaf.value, str) or not leaf.value.strip():
        raise BadValue(f"must be a non-empty string (got {show_value(leaf.value)})")
    return leaf.value.strip()


def symbols(leaf: Leaf) -> list[str]:
    value = leaf.value
    if value is None or value == []:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadValue(f"must be a list of symbols like BTC-USD (got {show_value(value)})")
    return [v.strip().upper() for v in value]


@dataclass
class Migration:
    source_dir: Path
    target_dir: Path
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    defaults: list[str] = field(default_factory=list)
    written: bool = False
    usage_error: bool = False  # --to unusable: the command line, not the source, is wrong

    @property
    def ok(self) -> bool:
        return not self.errors

    def count(self, status: Status) -> int:
        return sum(row.status is status for row in self.rows)
