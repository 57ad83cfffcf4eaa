"""Nothing of freqtrade's is patched, overridden or read privately unless the table lists it.

Scans ``src/`` and ``user_data/`` (the code freqtrade loads) with ``ast``:

- a private attribute read (``x._name``, ``getattr(x, "_name")``) is ours when the reading class
  defines the name, or when our code defines it and freqtrade does not; any other must be a name
  of a ``trader247.freqtrade_surface`` row listing that file;
- an assignment ``x.name = ...`` where ``name`` is a method of one of freqtrade's (or ccxt's)
  classes is a patch: it must be a row's name in a row listing that file; ``setattr`` with a
  computed name may only appear in a file some row lists;
- a method our strategy, pairlist or protection classes define that freqtrade's base class has
  too is either a documented callback (``DOCUMENTED_API``) or an ``override`` row.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from trader247.freqtrade_surface import DOCUMENTED_API, SURFACE, Kind

pytestmark = pytest.mark.compat
REPO = Path(__file__).resolve().parents[2]
SCANNED = (REPO / "src", REPO / "user_data" / "strategies", REPO / "user_data" / "pairlists",
           REPO / "user_data" / "protections")
STDLIB = {("os", "_exit"), ("inspect", "_ParameterKind")}
"""Standard-library privates (not freqtrade's)."""


def our_files() -> list[Path]:
    return sorted(path for root in SCANNED for path in root.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and not name.startswith(
        "_trader247")


def defined_names(tree: ast.AST) -> set[str]:
    """Every name a tree defines: functions, classes, assigned names and attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


@cache
def freqtrade_privates() -> frozenset[str]:
    import freqtrade

    names: set[str] = set()
    for path in Path(freqtrade.__file__).parent.rglob("*.py"):
        names |= defined_names(ast.parse(path.read_text(encoding="utf-8")))
    return frozenset(name for name in names if private(name))


@cache
def our_privates() -> frozenset[str]:
    names: set[str] = set()
    for path in our_files():
        names |= defined_names(ast.parse(path.read_text(encoding="utf-8")))
    return frozenset(name for name in names if private(name))


def covered(name: str, path: str, kinds: tuple[Kind, ...] | None = None) -> bool:
    return any(name in touch.names and path in touch.ours
               for touch in SURFACE if kinds is None or touch.kind in kinds)


def private_reads(tree: ast.AST) -> Iterator[tuple[ast.AST, str, str, set[str]]]:
    """(node, receiver, name, names the enclosing class defines) of every private read."""
    def visit(node: ast.AST, own: set[str]) -> Iterator[tuple[ast.AST, str, str, set[str]]]:
        if isinstance(node, ast.ClassDef):
            own = defined_names(node)
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) \
                and private(node.attr):
            yield node, ast.unparse(node.value), node.attr, own
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "hasattr") and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str) and private(node.args[1].value):
            yield node, ast.unparse(node.args[0]), node.args[1].value, own
        for child in ast.iter_child_nodes(node):
            yield from visit(child, own)

    yield from visit(tree, set())


def unlisted_private_reads(path: Path) -> list[str]:
    found = []
    for node, receiver, name, own in private_reads(ast.parse(path.read_text(encoding="utf-8"))):
        if (receiver, name) in STDLIB or (receiver in ("self", "cls") and name in own):
            continue
        if name in our_privates() and name not in freqtrade_privates():
            continue
        if not covered(name, relative(path)):
            found.append(f"{relative(path)}:{getattr(node, 'lineno', 0)}: {receiver}.{name}")
    return found


@cache
def freqtrade_methods() -> frozenset[str]:
    """Method names of the freqtrade classes our code could patch (freqtrade's ``Exchange`` has
    the ccxt calls it makes: ``create_order``, ``fetch_ticker``, ...)."""
    from freqtrade.data.dataprovider import DataProvider
    from freqtrade.exchange.exchange import Exchange
    from freqtrade.freqtradebot import FreqtradeBot
    from freqtrade.optimize.backtesting import Backtesting
    from freqtrade.optimize.hyperopt.hyperopt_optimizer import HyperOptimizer
    from freqtrade.plugins.pairlist.IPairList import IPairList
    from freqtrade.plugins.protections import IProtection
    from freqtrade.resolvers.iresolver import IResolver
    from freqtrade.rpc.rpc import RPC
    from freqtrade.strategy import IStrategy
    from freqtrade.worker import Worker

    classes = (DataProvider, Exchange, FreqtradeBot, Backtesting, HyperOptimizer,
               IPairList, IProtection, IResolver, RPC, IStrategy, Worker)
    return frozenset(name for cls in classes for name, _ in inspect.getmembers(cls, callable)
                     if not name.startswith("__"))


def unlisted_patches(path: Path) -> list[str]:
    found, where = [], relative(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                and ast.unparse(node.value) not in ("self", "cls") \
                and node.attr in freqtrade_methods() and not covered(node.attr, where):
            found.append(f"{where}:{node.lineno}: {ast.unparse(node)} = ...")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "setattr" and len(node.args) == 3:
            name = node.args[1]
            literal = name.value if isinstance(name, ast.Constant) else None
            if isinstance(literal, str) and literal in freqtrade_methods() \
                    and not covered(literal, where):
                found.append(f"{where}:{node.lineno}: setattr(..., {literal!r}, ...)")
            if literal is None and isinstance(name, ast.Name) and name.id.isupper():
                continue  # a marker constant (patches.MARKER, _GUARDED): our own attribute
            if literal is None and not any(where in touch.ours for touch in SURFACE):
                found.append(f"{where}:{node.lineno}: setattr with a computed name")
    return found


def test_every_private_read_of_freqtrade_is_in_the_table() -> None:
    found = [line for path in our_files() for line in unlisted_private_reads(path)]
    assert not found, ("private attributes read but not in trader247.freqtrade_surface "
                       "(add a row, or use a public API): " + "; ".join(found))


def test_every_patch_of_a_freqtrade_method_is_in_the_table() -> None:
    found = [line for path in our_files() for line in unlisted_patches(path)]
    assert not found, ("freqtrade callables replaced but not in trader247.freqtrade_surface: "
                       + "; ".join(found))


def plugin_classes() -> Iterator[tuple[type, type, str]]:
    """(our class, freqtrade's base, file) of the mixin and every shipped plugin."""
    from freqtrade.plugins.pairlist.IPairList import IPairList
    from freqtrade.plugins.protections import IProtection
    from freqtrade.strategy import IStrategy

    from trader247.strategy import ExposureCapMixin

    yield ExposureCapMixin, IStrategy, "src/trader247/adapters/cap_mixin.py"
    for folder, base in (("strategies", IStrategy), ("pairlists", IPairList),
                         ("protections", IProtection)):
        for path in sorted((REPO / "user_data" / folder).glob("*.py")):
            spec = importlib.util.spec_from_file_location(f"scan_{path.stem}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, base) and cls.__module__ == module.__name__:
                    yield cls, base, relative(path)


def test_every_overridden_freqtrade_internal_is_in_the_table() -> None:
    found = []
    for cls, base, where in plugin_classes():
        documented = DOCUMENTED_API[base.__name__]
        for name, value in vars(cls).items():
            if (callable(value) or isinstance(value, property | classmethod | staticmethod)) \
                    and hasattr(base, name) and name not in documented \
                    and not name.startswith("__") and not covered(name, where, (Kind.OVERRIDE,)):
                found.append(f"{where}: {cls.__name__}.{name} overrides {base.__name__}.{name}")
    assert not found, ("freqtrade internals overridden but not in trader247.freqtrade_surface: "
                       + "; ".join(found))


def test_the_scan_finds_a_new_private_read_and_a_new_patch(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """What the three tests above exist for: a file that reads ``dp._exchange`` or replaces
    ``Exchange.create_order`` outside the table's files is reported with its line."""
    source = tmp_path / "src" / "new.py"
    source.parent.mkdir()
    source.write_text("def f(dp, exchange, own):\n"
                      "    own._cap_on()\n"  # ours: defined in our code, not in freqtrade's
                      "    exchange.create_order = None\n"
                      "    return dp._exchange, getattr(dp, '_exchange')\n")
    monkeypatch.setitem(globals(), "REPO", tmp_path)
    assert unlisted_private_reads(source) == ["src/new.py:4: dp._exchange",
                                              "src/new.py:4: dp._exchange"]
    assert unlisted_patches(source) == ["src/new.py:3: exchange.create_order = ..."]
