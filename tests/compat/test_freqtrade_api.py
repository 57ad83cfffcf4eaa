"""Everything of freqtrade's we patch, override or read privately, pinned on every supported
release: one test per row and freqtrade object of ``trader247.freqtrade_surface``.

A changed release fails here, in ``make test-compat``, in a test whose id names the freqtrade
function (``test_freqtrade_still_has_what_we_rely_on[patch-freqtrade.freqtradebot:...]``), before
a user meets it. The patches run the same ``Needs`` when installed (the rows point to them).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest

from trader247.freqtrade_surface import (
    KEYWORD_ONLY,
    POSITIONAL,
    SURFACE,
    Check,
    Kind,
    Touch,
)
from trader247.patches import KEYWORD_ONLY as KIND_KEYWORD_ONLY
from trader247.patches import Needs, execute_entry_gate, source_problems

pytestmark = pytest.mark.compat
REPO = Path(__file__).resolve().parents[2]
KINDS = {POSITIONAL: inspect.Parameter.POSITIONAL_OR_KEYWORD,
         KEYWORD_ONLY: inspect.Parameter.KEYWORD_ONLY}


def resolve(reference: str) -> Any:
    """``package.module:Qual.name`` -> the object (``module`` alone: the module)."""
    module_name, _, qualname = reference.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in filter(None, qualname.split(".")):
        found = getattr(found, part)
    return found


def problems(check: Check) -> list[str]:
    try:
        target = resolve(check.target)
    except (ImportError, AttributeError) as exc:
        return [f"{check.target} no longer exists ({exc})"]
    found: list[str] = []
    if check.needs:
        needs: Needs = resolve(check.needs)
        found += needs.problems(target)
    if check.parameters or check.exact:
        kinds = {name: KINDS[kind] for name, kind in check.parameters.items()}
        found += Needs(check.target, kinds, exact=check.exact).problems(target)
    if check.first:
        names = [name for name in inspect.signature(inspect.unwrap(target)).parameters
                 if name != "self"]
        if names[:1] != [check.first]:
            found.append(f"{check.target}: {check.first} is no longer the first parameter")
    fragments = check.contains + (tuple(resolve(check.contains_from))
                                  if check.contains_from else ())
    if fragments:
        found += source_problems(check.target, target, fragments)
    missing = [key for key in check.keys if key not in getattr(target, "__annotations__", {})]
    if missing:
        found.append(f"{check.target} has no {', '.join(missing)}")
    return found


def _cases() -> list[Any]:
    cases, seen = [], set()
    for touch in SURFACE:
        for check in touch.checks:
            case_id = f"{touch.kind}-{check.target}"
            while case_id in seen:
                case_id += "+"
            seen.add(case_id)
            cases.append(pytest.param(touch, check, id=case_id))
    return cases


@pytest.mark.parametrize(("touch", "check"), _cases())
def test_freqtrade_still_has_what_we_rely_on(touch: Touch, check: Check) -> None:
    found = problems(check)
    assert not found, (f"freqtrade changed what {touch.kind} '{touch.freqtrade}' "
                       f"({', '.join(touch.ours)}) relies on: " + "; ".join(found)
                       + f". If it breaks: {touch.breaks}")


def test_every_row_names_existing_files_and_says_why() -> None:
    for touch in SURFACE:
        assert touch.why and touch.breaks and touch.upstream, touch.freqtrade
        missing = [path for path in touch.ours if not (REPO / path).is_file()]
        assert not missing, f"{touch.freqtrade}: no file {missing}"
        assert touch.checks, f"{touch.freqtrade}: nothing pins it"


def test_every_patch_module_has_a_row() -> None:
    """A new module in ``trader247.patches`` is a new patch: it needs its row."""
    covered = {path for touch in SURFACE if touch.kind is Kind.PATCH for path in touch.ours}
    modules = {f"src/trader247/patches/{path.name}"
               for path in (REPO / "src" / "trader247" / "patches").glob("*.py")
               if path.name != "__init__.py"}
    assert modules <= covered, f"patch modules without a row: {sorted(modules - covered)}"


def test_a_changed_signature_is_named_in_the_message() -> None:
    """The message a release bump produces names the freqtrade function and what it lacks."""
    def execute_entry(self: Any, pair: str, stake_amount: float, *, trade: Any = None) -> bool:
        return True

    assert execute_entry_gate.NEEDS.problems(execute_entry) == [
        "freqtrade.freqtradebot.FreqtradeBot.execute_entry(self, pair, stake_amount, *, "
        "trade=None) lacks mode (keyword-only)"]
    assert Needs("f", {"x": KIND_KEYWORD_ONLY}).problems(execute_entry) == [
        "f(self, pair, stake_amount, *, trade=None) lacks x (keyword-only)"]


def test_a_check_on_a_vanished_function_or_fragment_fails_with_its_name() -> None:
    gone = Check("freqtrade.freqtradebot:FreqtradeBot.no_such_method")
    assert problems(gone)[0].startswith(
        "freqtrade.freqtradebot:FreqtradeBot.no_such_method no longer exists")
    changed = Check("freqtrade.freqtradebot:FreqtradeBot.process", contains=("no such call",))
    assert problems(changed) == [
        "freqtrade.freqtradebot:FreqtradeBot.process no longer contains `no such call`"]
    moved = Check("freqtrade.exchange.exchange:Exchange.fetch_ticker", first="limit")
    assert problems(moved) == [
        "freqtrade.exchange.exchange:Exchange.fetch_ticker: limit is no longer the first "
        "parameter"]
