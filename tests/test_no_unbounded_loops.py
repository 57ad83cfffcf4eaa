"""No test loops without a bound ([T] item 4).

An audit planted a bug in the hysteresis exit; the one test that caught it looped ``while True``
until the cap settled, so it failed only by pytest's 300 s timeout, without the state it had
reached. The rule, checked on the source of every file under ``tests/`` (``ast``, nothing is
imported):

- a loop states its bound in its header: ``for _ in range(LIMIT)`` (with an ``else:`` that
  fails naming the state reached), or ``while <condition>`` where the condition IS the bound (a
  deadline, an event the test sets, a collection that shrinks);
- refused: ``while`` on a constant (``while True``, ``while 1``) and ``for`` over an endless
  iterator (``itertools.count``, ``itertools.cycle``, ``itertools.repeat`` without a count,
  two-argument ``iter(callable, sentinel)``): their bound, if any, hides in the body.

Honest limit: a ``while`` condition that never turns false (``while not converged``) passes this
check; such a condition must be a deadline or a counter, which review checks. No opt-out: a loop
that truly needs one can state its bound like every other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ENDLESS = {"count", "cycle"}  # and repeat() without a count, iter() with a sentinel


def _endless_call(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name == "iter":
        return len(node.args) == 2
    if name == "repeat":
        return len(node.args) < 2 and not node.keywords
    return name in ENDLESS and (
        not isinstance(func, ast.Attribute)
        or (isinstance(func.value, ast.Name) and func.value.id == "itertools"))


def unbounded_loops(source: str, filename: str = "<test>") -> list[str]:
    """``file:line: reason`` for every loop that hides its bound."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.While) and isinstance(node.test, ast.Constant) and node.test.value:
            found.append(f"{filename}:{node.lineno}: `while {node.test.value!r}` (state the "
                         "bound: for _ in range(LIMIT) ... else: fail, or a deadline condition)")
        elif isinstance(node, (ast.For, ast.AsyncFor)) and _endless_call(node.iter):
            found.append(f"{filename}:{node.lineno}: `for` over an endless iterator "
                         f"({ast.unparse(node.iter)})")
    return found


def test_no_loop_in_the_tests_hides_its_bound() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert len(files) > 100  # the walk found the tests
    found = [line for path in files
             for line in unbounded_loops(path.read_text(encoding="utf-8"),
                                         str(path.relative_to(TESTS.parent)))]
    assert found == []


@pytest.mark.parametrize("source, refused", [
    ("while True:\n    pass\n", True),
    ("while 1:\n    pass\n", True),
    ("import itertools\nfor i in itertools.count():\n    pass\n", True),
    ("from itertools import count\nfor i in count(5):\n    pass\n", True),
    ("from itertools import cycle\nfor i in cycle([1, 2]):\n    pass\n", True),
    ("from itertools import repeat\nfor i in repeat(0):\n    pass\n", True),
    ("for line in iter(f.readline, ''):\n    pass\n", True),
    ("async def f():\n    while True:\n        await g()\n", True),
    ("while False:\n    pass\n", False),
    ("while time.monotonic() < deadline:\n    pass\n", False),
    ("for _ in range(30):\n    pass\nelse:\n    fail()\n", False),
    ("from itertools import repeat\nfor i in repeat(0, 3):\n    pass\n", False),
    ("for line in iter(lines):\n    pass\n", False),
    ("numbers = itertools.count(1)\nnext(numbers)\n", False),  # a counter, not a loop
])
def test_the_rule_on_each_kind_of_loop(source: str, refused: bool) -> None:
    assert bool(unbounded_loops(source)) is refused
