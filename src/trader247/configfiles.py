"""Read ``config/policy.yaml`` and ``config/universe.yaml`` into the models of
``trader247.core.config``, reporting every problem as ``file:line: key.path: message``.

The I/O shell of the config (fix 5 of 2025-11-15: typos must fail before the bot starts, not at
run time). Decisions:
- Every problem of every file is collected and raised at once in :class:`ConfigFileError`.
- Duplicate keys are errors at any depth (PyYAML would silently keep the last one); YAML merge
  keys (``<<: *anchor``) may still be overridden, as YAML intends.
- Line numbers come from the composed node tree: a map from key path to the line of that key;
  an error about a missing key points at its parent.
- Files must be UTF-8 text of at most 1 MiB; aliases may not expand the document beyond
  :data:`MAX_NODES` nodes (no "billion laughs").
- Nothing is cached: every call reads the files again.

Regenerate the committed JSON Schemas after changing a model::

    python -m trader247.configfiles --write-schemas config/schema

Validating is ``trader247 validate`` (``--yaml POLICY UNIVERSE`` for these two files alone).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import logging
import os
import re
import sys
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from trader247.core.config import (
    PolicyConfig,
    Problem,
    UniverseConfig,
    check_policy,
    check_symbols_on_exchange,
    check_universe,
    cross_check,
    show_value,
)
from trader247.v2detect import v2_problems

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_PROBLEMS",
    "ConfigFileError",
    "check_files",
    "check_universe_markets",
    "json_schemas",
    "load_both",
    "load_policy",
    "load_universe",
    "main",
    "parse_policy",
    "parse_universe",
    "write_json_schemas",
]

logger = logging.getLogger(__name__)

MAX_BYTES: Final = 1 << 20
MAX_NODES: Final = 100_000
MAX_DEPTH: Final = 64
MAX_PROBLEMS: Final = 100  # per file: an alias-expanded list must not print 50 000 lines
SCHEMA_FILES: Final[dict[str, type[BaseModel]]] = {
    "policy.schema.json": PolicyConfig,
    "universe.schema.json": UniverseConfig,
}

PathKey = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class ConfigFileError(ValueError):
    """One or more config files are wrong; ``problems`` holds all of them (warnings included)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(p.format() for p in self.problems))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


# --------------------------------------------------------------------------- YAML with lines


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
class _Document:
    data: object
    lines: dict[PathKey, int]
    node_paths: dict[int, PathKey]


def _key_elem(key: object) -> str:
    """Path element of a mapping key: non-string keys as YAML spells them (``null``, ``1``)."""
    return key if isinstance(key, str) else show_value(key)


def _scalar_key(loader: yaml.SafeLoader, node: Node) -> str | None:
    if isinstance(node, ScalarNode):
        return _key_elem(loader.construct_object(node))
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


def _read_yaml(file: str, data: bytes | str) -> tuple[_Document | None, list[Problem]]:
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
        path = (*node_paths.get(id(node), ()), _key_elem(key))
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
    return _Document(value, lines, node_paths), problems


def line_of(lines: Mapping[PathKey, int], path: PathKey) -> int | None:
    """Line of ``path`` or, for a key that is not in the file, of its nearest parent."""
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


# --------------------------------------------------------------------------- pydantic errors

_TYPE_MESSAGES: Final = {
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _child_type(tp: Any, elem: str | int) -> Any:
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        info = tp.model_fields.get(elem) if isinstance(elem, str) else None
        return None if info is None else info.annotation
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (tuple, list) and args:
        return args[0]
    return None


def _model_at(root: type[BaseModel], path: PathKey) -> type[BaseModel] | None:
    tp: Any = root
    for elem in path:
        tp = _child_type(tp, elem)
        if tp is None:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _known_paths(tp: Any, prefix: tuple[str, ...] = ()) -> Iterable[tuple[str, ...]]:
    """Every key path of a model, ``*`` standing for a free mapping key (a tier name)."""
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            yield (*prefix, name)
            yield from _known_paths(info.annotation, (*prefix, name))
    elif typing.get_origin(tp) is dict and len(typing.get_args(tp)) == 2:
        yield from _known_paths(typing.get_args(tp)[1], (*prefix, "*"))


def _unknown_key_message(root: type[BaseModel], loc: PathKey) -> str:
    key = str(loc[-1])
    model = _model_at(root, loc[:-1])
    if model is not None:
        close = difflib.get_close_matches(key, list(model.model_fields), n=1, cutoff=0.6)
        if close:
            return f"unknown key (did you mean {close[0]}?)"
    # Not a typo here: perhaps the key was put under the wrong section.
    for known in _known_paths(root):
        if known[-1] == key:
            where = ".".join(
                str(loc[i]) if p == "*" and i < len(loc) else p for i, p in enumerate(known[:-1])
            )
            return f"unknown key (it belongs {f'under {where}' if where else 'at the top level'})"
    if model is not None:
        return "unknown key (expected one of " + ", ".join(model.model_fields) + ")"
    return "unknown key"


def _pydantic_problems(
    file: str, root: type[BaseModel], exc: ValidationError, lines: Mapping[PathKey, int]
) -> list[Problem]:
    out = []
    errors = exc.errors(include_url=False)
    for err in errors[:MAX_PROBLEMS]:
        loc: PathKey = tuple(err["loc"])
        kind = err["type"]
        if loc and (loc[-1] == "[key]" or kind == "invalid_key"):
            # A non-string mapping key (``1:``, ``null:``, ``true:``): name it as written.
            loc = (*loc[: -2 if loc[-1] == "[key]" else -1], _key_elem(err.get("input")))
            message = "keys must be strings here"
        elif kind == "extra_forbidden":
            message = _unknown_key_message(root, loc)
        elif kind == "missing":
            message = "missing required key"
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            message = f"must be one of {expected} (got {show_value(err.get('input'))})"
        elif kind == "recursion_loop":
            message = "recursive structure (an alias refers to itself)"
        elif kind in ("model_type", "dict_type") and err.get("input") is None:
            message = "must be a mapping (got null: remove the empty section or indent its keys)"
        elif kind in _TYPE_MESSAGES:
            message = f"{_TYPE_MESSAGES[kind]} (got {show_value(err.get('input'))})"
        else:
            message = err["msg"]
        out.append(Problem(file, loc, message, line=line_of(lines, loc)))
    if len(errors) > MAX_PROBLEMS:
        more = f"... and {len(errors) - MAX_PROBLEMS} more problems"
        out.append(Problem(file, (), more, line=out[-1].line))
    return out


# --------------------------------------------------------------------------- parsing


@dataclass
class _Parsed(Generic[M]):
    file: str
    model: M | None
    lines: dict[PathKey, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def locate(self, problems: Iterable[Problem]) -> list[Problem]:
        return [
            p if p.line is not None else dataclasses.replace(p, line=line_of(self.lines, p.path))
            for p in problems
        ]


def _parse(file: str, data: bytes | str, model_cls: type[M]) -> _Parsed[M]:
    doc, problems = _read_yaml(file, data)
    if doc is None:
        return _Parsed(file, None, problems=problems)
    if v2 := v2_problems(file, doc.data, doc.lines):  # the original bot's file: say so, once
        return _Parsed(file, None, doc.lines, v2)
    try:
        model = model_cls.model_validate(doc.data)
    except ValidationError as exc:
        problems += _pydantic_problems(file, model_cls, exc, doc.lines)
        model = None
    except RecursionError:
        problems.append(Problem(file, (), "YAML nested too deeply"))
        model = None
    if problems:  # duplicate keys: the model was built from the last value only
        model = None
    return _Parsed(file, model, doc.lines, problems)


def _read(path: str | os.PathLike[str]) -> _Parsed[Any] | bytes:
    file = os.fspath(path)
    try:
        with open(file, "rb") as fh:
            return fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        msg = f"file not found (looked for {os.path.abspath(file)})"
    except IsADirectoryError:
        msg = "is a directory, not a file"
    except OSError as exc:
        msg = f"cannot read: {exc.strerror or exc}"
    return _Parsed(file, None, problems=[Problem(file, (), msg)])


def _parse_file(path: str | os.PathLike[str], model_cls: type[M]) -> _Parsed[M]:
    raw = _read(path)
    if isinstance(raw, _Parsed):
        return typing.cast(_Parsed[M], raw)
    return _parse(os.fspath(path), raw, model_cls)


def _order(problems: Iterable[Problem], files_first: Sequence[str] = ()) -> list[Problem]:
    """Problems by file (``files_first`` first), then by line."""
    files: dict[str, int] = {name: i for i, name in enumerate(files_first)}
    listed = list(problems)
    for p in listed:
        files.setdefault(p.file, len(files))
    return sorted(listed, key=lambda p: (files[p.file], p.line or 0, p.column or 0))


def _finish(problems: list[Problem]) -> None:
    problems = _order(problems)
    if any(p.severity == "error" for p in problems):
        raise ConfigFileError(problems)
    for p in problems:
        logger.warning("%s", p.format())


def _policy(parsed: _Parsed[PolicyConfig], dry_run: bool | None) -> PolicyConfig:
    problems = list(parsed.problems)
    if parsed.model is not None:
        problems += parsed.locate(check_policy(parsed.model, dry_run=dry_run, file=parsed.file))
    _finish(problems)
    assert parsed.model is not None
    return parsed.model


def _universe(parsed: _Parsed[UniverseConfig]) -> UniverseConfig:
    problems = list(parsed.problems)
    if parsed.model is not None:
        problems += parsed.locate(check_universe(parsed.model, file=parsed.file))
    _finish(problems)
    assert parsed.model is not None
    return parsed.model


def parse_policy(
    data: bytes | str, *, file: str = "<policy.yaml>", dry_run: bool | None = None
) -> PolicyConfig:
    """Validate policy YAML given as bytes or text; ``file`` names it in messages."""
    return _policy(_parse(file, data, PolicyConfig), dry_run)


def parse_universe(data: bytes | str, *, file: str = "<universe.yaml>") -> UniverseConfig:
    """Validate universe YAML given as bytes or text; ``file`` names it in messages."""
    return _universe(_parse(file, data, UniverseConfig))


def load_policy(path: str | os.PathLike[str], *, dry_run: bool | None = None) -> PolicyConfig:
    """Read and validate ``policy.yaml``; raises :class:`ConfigFileError` listing every problem.

    ``dry_run=False`` (a live bot) also refuses a cap above 25 % without
    ``risk.acknowledge_high_cap_live: true``.
    """
    return _policy(_parse_file(path, PolicyConfig), dry_run)


def load_universe(path: str | os.PathLike[str]) -> UniverseConfig:
    """Read and validate ``universe.yaml``; raises :class:`ConfigFileError` listing every
    problem."""
    return _universe(_parse_file(path, UniverseConfig))


def _both(
    policy_path: str | os.PathLike[str],
    universe_path: str | os.PathLike[str],
    dry_run: bool | None,
) -> tuple[_Parsed[PolicyConfig], _Parsed[UniverseConfig], list[Problem]]:
    policy = _parse_file(policy_path, PolicyConfig)
    universe = _parse_file(universe_path, UniverseConfig)
    problems = policy.problems + universe.problems
    if policy.model is not None and universe.model is not None:
        found = cross_check(
            policy.model,
            universe.model,
            dry_run=dry_run,
            policy_file=policy.file,
            universe_file=universe.file,
        )
        problems += policy.locate(p for p in found if p.file == policy.file)
        problems += universe.locate(p for p in found if p.file != policy.file)
    else:  # still check whichever file did parse
        if policy.model is not None:
            problems += policy.locate(check_policy(policy.model, dry_run=dry_run, file=policy.file))
        if universe.model is not None:
            problems += universe.locate(check_universe(universe.model, file=universe.file))
    return policy, universe, _order(problems, (policy.file, universe.file))


def load_both(
    policy_path: str | os.PathLike[str],
    universe_path: str | os.PathLike[str],
    *,
    dry_run: bool | None = None,
) -> tuple[PolicyConfig, UniverseConfig]:
    """Read, validate and cross-check both files; raises :class:`ConfigFileError` listing every
    problem of both. Warnings are logged."""
    policy, universe, problems = _both(policy_path, universe_path, dry_run)
    _finish(problems)
    assert policy.model is not None and universe.model is not None
    return policy.model, universe.model


def check_files(
    policy_path: str | os.PathLike[str],
    universe_path: str | os.PathLike[str],
    *,
    dry_run: bool | None = None,
) -> list[Problem]:
    """Every problem of both files (errors and warnings) without raising: for a pre-flight
    validator."""
    return _both(policy_path, universe_path, dry_run)[2]


def check_universe_markets(universe_path: str | os.PathLike[str],
                           bases: Iterable[str], *,
                           loaded: UniverseConfig | None = None) -> list[Problem]:
    """Bare symbols of ``universe.yaml`` that are no base currency among the exchange's markets
    (``bases``) as ``file:line`` problems (``check_symbols_on_exchange``: which are errors), for
    the pairlist at bot start. The file's other problems are the loaders' (it was loaded).
    ``loaded``: the file's model, already parsed; the file is then read again only to find the
    lines of problems, so a clean start parses it once."""
    if loaded is not None and not check_symbols_on_exchange(loaded, frozenset(bases)):
        return []
    parsed = _parse_file(universe_path, UniverseConfig)
    if parsed.model is None:
        return []
    return parsed.locate(check_symbols_on_exchange(parsed.model, frozenset(bases),
                                                   file=parsed.file))


# --------------------------------------------------------------------------- JSON Schema


def json_schemas() -> dict[str, str]:
    """File name -> JSON Schema text of both files, generated from the models."""
    out = {}
    for name, model in SCHEMA_FILES.items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            **model.model_json_schema(),
        }
        out[name] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return out


def write_json_schemas(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``policy.schema.json`` and ``universe.schema.json`` into ``out_dir``."""
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in json_schemas().items():
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trader247.configfiles",
        description="Write the JSON Schemas of the 247trader YAML files (validate them with "
        "`trader247 validate`).",
    )
    parser.add_argument(
        "--write-schemas", metavar="DIR", required=True, help="write the JSON Schemas into DIR"
    )
    args = parser.parse_args(argv)
    for path in write_json_schemas(args.write_schemas):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
