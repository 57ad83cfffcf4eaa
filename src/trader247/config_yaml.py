"""YAML with line numbers: the reading half of the config files' I/O shell.

Decisions (typos must fail before the bot starts):
- Duplicate keys are errors at any depth (PyYAML would silently keep the last one); YAML merge
  keys (``<<: *anchor``) may still be overridden, as YAML intends.
- Line numbers come from the composed node tree: a map from key path to the line of that key;
  an error about a missing key points at its parent (:func:`line_of`).
- Files must be UTF-8 text of at most :data:`MAX_BYTES`; aliases may not expand the document
  beyond :data:`MAX_NODES` nodes (no "billion laughs") nor nest deeper than :data:`MAX_DEPTH`.

:mod:`trader247.configfiles` turns a :class:`Document` into the models and reports every
problem as ``file:line: key.path: message``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from trader247.core.config import Problem, show_value

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "Document",
    "PathKey",
    "key_elem",
    "line_of",
    "read_yaml",
]

MAX_BYTES: Final = 1 << 20
MAX_NODES: Final = 100_000
MAX_DEPTH: Final = 64
PathKey = tuple[str | int, ...]


class _DuplicateKeyLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys (PyYAML keeps the last one without a word)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # (mapping node, key, first line, duplicate line), lines 1-based
        self.duplicates: list[tuple[MappingNode, object, int, int]] = []
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        # The composer recurses and the scanner is quadratic in the flow depth: stop early
        # instead of letting ``[[[[...`` burn seconds until a RecursionError.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.MarkedYAMLError(
                    problem=f"nested more than {MAX_DEPTH} levels deep", problem_mark=mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            first_line: dict[object, int] = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # the base class reports the unhashable key
                line = key_node.start_mark.line + 1
                if key in first_line:
                    self.duplicates.append((node, key, first_line[key], line))
                else:
                    first_line[key] = line
        return super().construct_mapping(node, deep=deep)


class _TooLarge(Exception):
    pass


@dataclass
class Document:
    data: object
    lines: dict[PathKey, int]
    node_paths: dict[int, PathKey]


def key_elem(key: object) -> str:
    """Path element of a mapping key: non-string keys as YAML spells them (``null``, ``1``)."""
    return key if isinstance(key, str) else show_value(key)


def _scalar_key(loader: yaml.SafeLoader, node: Node) -> str | None:
    if isinstance(node, ScalarNode):
        return key_elem(loader.construct_object(node))
    return None


def _index_nodes(
    loader: yaml.SafeLoader, root: Node
) -> tuple[dict[PathKey, int], dict[int, PathKey]]:
    """Map key paths to 1-based lines, and mapping nodes to their first path."""
    lines: dict[PathKey, int] = {(): root.start_mark.line + 1}
    node_paths: dict[int, PathKey] = {}
    budget = [MAX_NODES]
    active: set[int] = set()

    def visit(node: Node, path: PathKey) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooLarge
        if id(node) in active:  # a recursive alias: the model validation reports it
            return
        active.add(id(node))
        if isinstance(node, MappingNode):
            node_paths.setdefault(id(node), path)
            for key_node, value_node in node.value:
                key = _scalar_key(loader, key_node)
                if key is None:
                    continue
                child = (*path, key)
                lines[child] = key_node.start_mark.line + 1
                visit(value_node, child)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                child = (*path, i)
                lines[child] = item.start_mark.line + 1
                visit(item, child)
        active.discard(id(node))

    visit(root, ())
    return lines, node_paths


_LINE_BREAK: Final = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # as PyYAML counts lines


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    breaks = list(_LINE_BREAK.finditer(text, 0, offset))
    start = breaks[-1].end() if breaks else 0
    return len(breaks) + 1, offset - start + 1


def _yaml_problem(file: str, exc: yaml.YAMLError, text: str) -> Problem:
    if isinstance(exc, yaml.reader.ReaderError):
        line, col = _position(text, exc.position)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return Problem(
            file,
            (),
            f"unacceptable character U+{ord(char):04X}: control characters "
            f"are not allowed (binary file?)",
            line=line,
            column=col,
        )
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or "invalid YAML"
        if exc.context and exc.context_mark is not None:
            ctx_line = exc.context_mark.line + 1
            what = f"{what} ({exc.context} on line {ctx_line})"
        if "\t" in what or "'\\t'" in what:
            what += "; indent with spaces, not tabs"
        if mark is not None:
            return Problem(
                file, (), f"YAML syntax error: {what}", line=mark.line + 1, column=mark.column + 1
            )
        return Problem(file, (), f"YAML syntax error: {what}")
    return Problem(file, (), f"YAML error: {exc}")


def _decode(file: str, raw: bytes) -> tuple[str | None, list[Problem]]:
    if len(raw) > MAX_BYTES:
        return None, [
            Problem(file, (), f"file is too large (a config file is at most {MAX_BYTES} bytes)")
        ]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [Problem(file, (), "UTF-16 text; save the file as UTF-8", line=1)]
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw[:nul].count(b"\n") + 1
        return None, [
            Problem(file, (), "binary file (NUL byte); expected UTF-8 YAML text", line=line)
        ]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            Problem(
                file,
                (),
                f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
                line=line,
                column=col,
            )
        ]


def read_yaml(file: str, data: bytes | str) -> tuple[Document | None, list[Problem]]:
    if isinstance(data, bytes):
        text, problems = _decode(file, data)
        if text is None:
            return None, problems
    else:
        text = data
    try:
        loader = _DuplicateKeyLoader(text)
    except yaml.YAMLError as exc:  # unprintable characters are refused up front
        return None, [_yaml_problem(file, exc, text)]
    try:
        root = loader.get_single_node()
        if root is None:
            return None, [
                Problem(
                    file,
                    (),
                    "file has no settings (empty or only comments); expected a mapping of keys",
                )
            ]
        value = loader.construct_document(root)
        lines, node_paths = _index_nodes(loader, root)
    except yaml.YAMLError as exc:
        return None, [_yaml_problem(file, exc, text)]
    except RecursionError:
        return None, [Problem(file, (), "YAML nested too deeply")]
    except _TooLarge:
        return None, [
            Problem(file, (), f"document expands to more than {MAX_NODES} nodes (aliases?)")
        ]
    finally:
        loader.dispose()
    problems = []
    for node, key, first, again in loader.duplicates:
        path = (*node_paths.get(id(node), ()), key_elem(key))
        problems.append(
            Problem(
                file,
                path,
                f"duplicate key (first on line {first}, again on "
                f"line {again}; YAML would keep only the last)",
                line=again,
            )
        )
    if not isinstance(value, dict):
        kind = "nothing" if value is None else show_value(value)
        if isinstance(value, list):
            kind = "a list"
        return None, [
            *problems,
            Problem(file, (), f"top level must be a mapping of keys (got {kind})", line=lines[()]),
        ]
    return Document(value, lines, node_paths), problems


def line_of(lines: Mapping[PathKey, int], path: PathKey) -> int | None:
    """Line of ``path`` or, for a key that is not in the file, of its nearest parent."""
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None
