"""mutmut 3.8.1 that also mutates decorated functions: ``python -m tests.mutation.mutmut_ext run``.

mutmut skips every function with a decorator other than a lone ``@staticmethod`` /
``@classmethod``, and everything inside it. In our money code that is ``@property`` (``over_cap``,
``allowed``, ``excess_over_target``...), ``@contextmanager`` (the fleet's transaction lock), the
``@observability.timed`` strategy hooks and the ``@functools.wraps`` wrappers that *are* the
freqtrade patches (the ``execute_entry`` gate). Its reasons, and why they do not hold here:

- the copies of a decorated function (the original and one per mutant, which the trampoline
  calls) would be decorated again (a ``property`` is not callable; a route registered twice):
  here the copies lose their decorators and only the trampoline keeps them, so ``@property``
  wraps the trampoline, which calls the plain copies;
- mutating a decorator's arguments can break the import: decorators stay unmutated (mutmut's
  own rule for ``cst.Decorator`` nodes is kept);
- a function *nested* in another is not trampolined at all: its mutations are part of the outer
  function's copies, so its decorators need nothing.

The patch replaces two functions of mutmut's, so it refuses any other mutmut version.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.metadata import version

import libcst as cst
from libcst.metadata import PositionProvider

MUTMUT_VERSION = "3.8.1"
_PLAIN = (["staticmethod"], ["classmethod"])


def _names(function: cst.FunctionDef) -> list[str]:
    return [d.decorator.value if isinstance(d.decorator, cst.Name) else "?"
            for d in function.decorators]


def install() -> None:
    if version("mutmut") != MUTMUT_VERSION:
        raise SystemExit(f"tests/mutation/mutmut_ext.py patches mutmut {MUTMUT_VERSION}, found "
                         f"{version('mutmut')}: check its two patches against the new release")
    from mutmut.mutation import file_mutation as fm

    if getattr(fm, "_trader247_ext", False):
        return
    fm._trader247_ext = True  # type: ignore[attr-defined]
    skip = fm.MutationVisitor._skip_node_and_children
    arrange = fm.function_trampoline_arrangement

    def skip_node_and_children(self: fm.MutationVisitor, node: cst.CSTNode) -> bool:
        if not isinstance(node, cst.FunctionDef) or not node.decorators \
                or _names(node) in _PLAIN:
            return bool(skip(self, node))
        # mutmut's other rules for a function, minus "decorated": a pragma block, enum hooks,
        # the never-mutated names.
        position = self.get_metadata(PositionProvider, node, None)
        if position and position.start.line in self._ignored_node_lines:
            self.ignored_functions.add(node.name.value)
            return True
        return node in self._enum_creation_hooks \
            or node.name.value in fm.NEVER_MUTATE_FUNCTION_NAMES

    def function_trampoline_arrangement(function: cst.FunctionDef, mutants: object,
                                        class_name: str | None) -> tuple[Sequence[object], ...]:
        if not function.decorators or _names(function) in _PLAIN:
            return arrange(function, mutants, class_name)  # type: ignore[arg-type]
        declarations, nodes, assignments, names = arrange(
            function.with_changes(decorators=[]), mutants, class_name)  # type: ignore[arg-type]
        trampoline = nodes[0]
        assert isinstance(trampoline, cst.FunctionDef)
        nodes = [trampoline.with_changes(decorators=[*function.decorators,
                                                     *trampoline.decorators]), *nodes[1:]]
        return declarations, nodes, assignments, names

    fm.MutationVisitor._skip_node_and_children = skip_node_and_children  # type: ignore[method-assign]
    fm.function_trampoline_arrangement = function_trampoline_arrangement  # type: ignore[assignment]


def main() -> None:
    install()
    from mutmut.__main__ import cli

    sys.argv[0] = "mutmut"
    cli()


if __name__ == "__main__":
    main()
