"""The original bot's three files as leaves with their lines.

A leaf is a key whose value is not a mapping (a scalar or a list): ``risk.max_open_positions``,
``exclusions.never_trade``, ``profiles.conservative.tier_sizing.T1``. Every leaf of every file
gets one row in the migration report, so the report's row count is the leaf count here.
Lists count as one leaf (a symbol list is one setting); a list of mappings, which the original
files do not have, is walked item by item (``key[0].name``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from trader247.core.config import format_path

SOURCE_FILES: Final = ("policy.yaml", "universe.yaml", "app.yaml")
MAX_BYTES: Final = 1 << 20

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Leaf:
    """One source setting: file, key path, value and the line of its key."""

    file: str
    path: Path_
    value: Any
    line: int

    @property
    def key(self) -> str:
        return format_path(self.path)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class SourceFile:
    name: str
    data: dict[str, Any]
    lines: dict[Path_, int] = field(default_factory=dict)

    def leaves(self) -> Iterator[Leaf]:
        yield from _walk(self, (), self.data)

    def get(self, *path: str | int) -> Any:
        node: Any = self.data
        for elem in path:
            in_list = isinstance(node, list) and isinstance(elem, int) and 0 <= elem < len(node)
            if not (in_list or (isinstance(node, Mapping) and elem in node)):
                return None
            node = node[elem]
        return node

    def line(self, path: Path_) -> int:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


def _walk(source: SourceFile, path: Path_, value: Any) -> Iterator[Leaf]:
    if isinstance(value, Mapping) and value:
        for key, child in value.items():
            yield from _walk(source, (*path, str(key)), child)
    elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        for i, child in enumerate(value):
            yield from _walk(source, (*path, i), child)
    elif path:
        yield Leaf(source.name, path, value, source.line(path))


class SourceError(Exception):
    """A source file that cannot be read: ``problems`` are ``(file, line, message)``."""

    def __init__(self, problems: list[tuple[str, int | None, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(self.lines()))

    def lines(self) -> list[str]:
        """``policy.yaml:12: YAML syntax error: ...`` (``file: message`` without a line)."""
        return [f"{file}:{line}: {message}" if line else f"{file}: {message}"
                for file, line, message in self.problems]


def _index(node: Node, path: Path_, lines: dict[Path_, int],
           duplicates: list[tuple[Path_, int, int]]) -> None:
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                continue
            key, line = str(key_node.value), key_node.start_mark.line + 1
            if key in seen:
                duplicates.append(((*path, key), seen[key], line))
            seen.setdefault(key, line)
            lines[(*path, key)] = line
            _index(value_node, (*path, key), lines, duplicates)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _index(item, (*path, i), lines, duplicates)


def read_source(path: Path) -> SourceFile:
    """Parse one file; unreadable, non-YAML, duplicate keys or a non-mapping raise SourceError."""
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SourceError([(name, None, f"file not found in {path.parent}")]) from None
    except OSError as exc:
        raise SourceError([(name, None, f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_BYTES:
        raise SourceError([(name, None, f"larger than {MAX_BYTES} bytes")])
    try:
        text = raw.decode("utf-8-sig")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise SourceError([(name, None, "not UTF-8 text")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise SourceError([(name, line, f"YAML syntax error: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise SourceError([(name, None, f"YAML error: {exc}")]) from None
    if not isinstance(data, dict) or root is None:
        raise SourceError([(name, 1, "top level must be a mapping of keys")])
    lines: dict[Path_, int] = {}
    duplicates: list[tuple[Path_, int, int]] = []
    _index(root, (), lines, duplicates)
    if duplicates:
        raise SourceError([
            (name, again, f"{format_path(p)}: duplicate key (first on line {first}); YAML "
                          "would keep only the last")
            for p, first, again in duplicates
        ])
    return SourceFile(name, data, lines)


def read_sources(directory: str | os.PathLike[str]) -> dict[str, SourceFile]:
    """All three files of a v2 config directory; every unreadable one is reported at once."""
    base = Path(directory)
    if not base.is_dir():
        raise SourceError([(str(base), None, "not a directory")])
    found: dict[str, SourceFile] = {}
    problems: list[tuple[str, int | None, str]] = []
    for name in SOURCE_FILES:
        try:
            found[name] = read_source(base / name)
        except SourceError as exc:
            problems += exc.problems
    if problems:
        raise SourceError(problems)
    return found
