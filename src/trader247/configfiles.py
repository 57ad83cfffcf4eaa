"""Read ``config/policy.yaml`` and ``config/universe.yaml`` into the models of
``trader247.core.config``, reporting every problem as ``file:line: key.path: message``.

The I/O shell of the config (typos must fail before the bot starts, not at
run time). Decisions:
- Every problem of every file is collected and raised at once in :class:`ConfigFileError`.
- Reading YAML with line numbers (duplicate keys, alias bombs, nesting) is
  :mod:`trader247.config_yaml`; files must be at most 1 MiB (:data:`MAX_BYTES`).
- Nothing is cached: every call reads the files again (a bot shares one read between its
  plugins: ``trader247.adapters.settings``).
- A renamed key (``RENAMED_KEYS`` of the policy model: ``risk.max_per_theme_pct`` is now
  ``risk.max_per_cluster_pct``) still works: one warning per read names the file and both keys,
  and every other problem under it is shown at the key as written.
- The JSON Schemas are :mod:`trader247.config_schema` (re-exported here, with its ``main``:
  ``python -m trader247.configfiles --write-schemas config/schema`` still writes them).

Validating is ``trader247 validate`` (``--yaml POLICY UNIVERSE`` for these two files alone).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import sys
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from trader247.config_schema import json_schemas, main, write_json_schemas
from trader247.config_yaml import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    PathKey,
    key_elem,
    line_of,
    read_yaml,
)
from trader247.core.config import (
    RENAMED_KEYS,
    PolicyConfig,
    Problem,
    UniverseConfig,
    check_policy,
    check_symbols_on_exchange,
    check_universe,
    cross_check,
    format_path,
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
    "check_files_and_policy",
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

MAX_PROBLEMS: Final = 100  # per file: an alias-expanded list must not print 50 000 lines
M = TypeVar("M", bound=BaseModel)
_RENAMED: Final[Mapping[type[BaseModel], Mapping[tuple[str, ...], tuple[str, ...]]]] = {
    PolicyConfig: RENAMED_KEYS,
}


class ConfigFileError(ValueError):
    """One or more config files are wrong; ``problems`` holds all of them (warnings included)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(p.format() for p in self.problems))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


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
            loc = (*loc[: -2 if loc[-1] == "[key]" else -1], key_elem(err.get("input")))
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
    written: dict[PathKey, PathKey] = field(default_factory=dict)  # new key -> old key used

    def as_written(self, path: PathKey) -> PathKey:
        """``path`` with a renamed key as the file spells it (the old name, if it used that)."""
        for new, old in self.written.items():
            if path[: len(new)] == new:
                return (*old, *path[len(new):])
        return path

    def locate(self, problems: Iterable[Problem]) -> list[Problem]:
        out = []
        for p in problems:
            path = self.as_written(p.path)
            line = line_of(self.lines, path) if p.line is None or path != p.path else p.line
            out.append(dataclasses.replace(p, path=path, line=line))
        return out


def _old_keys(data: object, model_cls: type[BaseModel]) -> dict[PathKey, PathKey]:
    """New key path -> old key path, for each renamed key ``data`` spells the old way only
    (both ways is the model's error)."""
    return {
        new: old
        for old, new in _RENAMED.get(model_cls, {}).items()
        if _has(data, old) and not _has(data, new)
    }


def _has(data: object, path: PathKey) -> bool:
    for elem in path:
        if not isinstance(data, Mapping) or elem not in data:
            return False
        data = data[elem]
    return True


def _deprecations(parsed: _Parsed[Any]) -> list[Problem]:
    """One warning per old key used: ``policy.yaml:75: risk.max_per_theme_pct: warning:
    deprecated, use risk.max_per_cluster_pct``."""
    return [
        Problem(parsed.file, old, f"deprecated, use {format_path(new)} (same meaning; "
                "trader247 migrate writes the new key)", line=line_of(parsed.lines, old),
                severity="warning")
        for new, old in parsed.written.items()
    ]


def _parse(file: str, data: bytes | str, model_cls: type[M]) -> _Parsed[M]:
    doc, problems = read_yaml(file, data)
    if doc is None:
        return _Parsed(file, None, problems=problems)
    if v2 := v2_problems(file, doc.data, doc.lines):  # the original bot's file: say so, once
        return _Parsed(file, None, doc.lines, v2)
    parsed = _Parsed[M](file, None, doc.lines, problems, _old_keys(doc.data, model_cls))
    try:
        parsed.model = model_cls.model_validate(doc.data)
    except ValidationError as exc:
        problems += parsed.locate(_pydantic_problems(file, model_cls, exc, doc.lines))
    except RecursionError:
        problems.append(Problem(file, (), "YAML nested too deeply"))
    if problems:  # duplicate keys: the model was built from the last value only
        parsed.model = None
    problems += _deprecations(parsed)
    return parsed


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
    return check_files_and_policy(policy_path, universe_path, dry_run=dry_run)[0]


def check_files_and_policy(
    policy_path: str | os.PathLike[str],
    universe_path: str | os.PathLike[str],
    *,
    dry_run: bool | None = None,
) -> tuple[list[Problem], PolicyConfig | None]:
    """:func:`check_files` and, when ``policy.yaml`` has no error, its model (what
    :func:`load_policy` would return), from one read of each file."""
    policy, _, problems = _both(policy_path, universe_path, dry_run)
    broken = any(p.severity == "error" and p.file == policy.file for p in problems)
    return problems, None if broken else policy.model


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


if __name__ == "__main__":
    sys.exit(main())
