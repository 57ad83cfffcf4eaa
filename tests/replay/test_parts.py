"""The replay's parts never hold the ``ReplayExchange`` (issue [D] item 4: no object cycle).

``ReplayExchange`` builds the parts and routes requests to them; a part gets the narrow pieces
it needs (the market, the ``ScenarioState``, the catalog, the brokerage...). Two checks:

- no constructor of a class of the replay takes a ``ReplayExchange`` (its annotations, as
  written and as resolved), except the HTTP server's, which serves one;
- no module imports ``api.py`` -- not even under ``TYPE_CHECKING``, where an import hides a cycle
  from the import graph test -- except the server and the command line.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from pathlib import Path
from typing import Any

import pytest

import trader247.replay
from trader247.replay.api import ReplayExchange

PACKAGE = Path(trader247.replay.__file__).parent
# the outer shell: they serve or start an exchange, they are not parts of one
SHELL = {"api", "server", "__main__"}
PARTS = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in SHELL | {"__init__"})


def _mentions_exchange(annotation: Any) -> bool:
    if annotation is ReplayExchange:
        return True
    if isinstance(annotation, str):
        return "ReplayExchange" in annotation
    return any(_mentions_exchange(arg) for arg in typing.get_args(annotation))


def takes_exchange(cls: type) -> list[str]:
    """The constructor parameters of ``cls`` annotated with ``ReplayExchange``."""
    init = cls.__dict__.get("__init__")
    if init is None:
        return []
    written = {name: p.annotation for name, p in inspect.signature(init).parameters.items()}
    try:
        resolved = typing.get_type_hints(init)
    except NameError:  # a name only imported under TYPE_CHECKING: the written text still shows
        resolved = {}
    return sorted(name for name in written if name != "return" and (
        _mentions_exchange(written[name]) or _mentions_exchange(resolved.get(name))))


def imports_api(path: Path) -> list[int]:
    """Lines of ``path`` that import ``trader247.replay.api`` (anywhere, TYPE_CHECKING too)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            relative_api = node.level == 1 and (node.module == "api" or (
                node.module is None and any(a.name == "api" for a in node.names)))
            if "trader247.replay.api" in names or relative_api:
                lines.append(node.lineno)
        elif isinstance(node, ast.Import) and any(
                a.name == "trader247.replay.api" for a in node.names):
            lines.append(node.lineno)
    return sorted(lines)


class _Cyclic:
    def __init__(self, exchange: ReplayExchange, other: int) -> None:
        self.exchange = exchange


class _Hidden:
    def __init__(self, exchange: ReplayExchange | None = None) -> None:
        self.exchange = exchange


def test_the_checks_catch_a_part_that_holds_the_exchange(tmp_path: Path) -> None:
    assert takes_exchange(_Cyclic) == ["exchange"]
    assert takes_exchange(_Hidden) == ["exchange"]
    source = tmp_path / "part.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from trader247.replay.api import ReplayExchange\n"
                      "from . import api\n")
    assert imports_api(source) == [3, 4]


@pytest.mark.parametrize("module", PARTS)
def test_no_part_takes_the_exchange(module: str) -> None:
    loaded = importlib.import_module(f"trader247.replay.{module}")
    classes = [c for _, c in inspect.getmembers(loaded, inspect.isclass)
               if c.__module__ == loaded.__name__]
    assert {c.__name__: takes_exchange(c) for c in classes if takes_exchange(c)} == {}


@pytest.mark.parametrize("module", PARTS)
def test_no_part_imports_the_exchange(module: str) -> None:
    assert imports_api(PACKAGE / f"{module}.py") == []


def test_the_parts_are_all_checked() -> None:
    # the parts the cycle ran through (issue [D]) are among the checked modules
    assert {"control", "private", "public", "catalog", "market", "state"} <= set(PARTS)
