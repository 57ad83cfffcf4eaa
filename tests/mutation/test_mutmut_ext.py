"""tests/mutation/mutmut_ext.py: decorated functions get mutants, and the mutants run."""

from __future__ import annotations

import pytest
from tests.mutation import mutmut_ext

SOURCE = '''
import functools
from contextlib import contextmanager


class Box:
    def __init__(self, n):
        self.n = n

    @property
    def double(self):
        return self.n * 2

    @contextmanager
    def opened(self):
        yield self.n + 1


def wrap(f):
    @functools.wraps(f)
    def inner(x):
        return f(x) + 1
    return inner
'''


@pytest.fixture
def box(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The module mutmut (with the extension) makes of SOURCE, no mutant active."""
    mutmut_ext.install()
    from mutmut.mutation.file_mutation import mutate_file_contents

    mutated = mutate_file_contents("box.py", SOURCE)
    monkeypatch.setenv("MUTANT_UNDER_TEST", "")
    namespace: dict[str, object] = {"__name__": "box", "mutant_names": mutated.mutant_names}
    exec(compile(mutated.code, "box.py", "exec"), namespace)  # noqa: S102  # our own source
    return namespace


def test_properties_context_managers_and_inner_wrapped_functions_get_mutants(
        box: dict[str, object]) -> None:
    names = box["mutant_names"]
    assert isinstance(names, list)
    for function in ("xǁBoxǁdouble", "xǁBoxǁopened", "x_wrap"):
        assert any(name.startswith(f"{function}__mutmut_") for name in names), function


def test_the_decorators_still_work_and_a_mutant_changes_the_result(
        box: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    cls, wrap = box["Box"], box["wrap"]
    assert cls(3).double == 6 and wrap(abs)(-2) == 3  # type: ignore[operator]
    with cls(3).opened() as value:  # type: ignore[operator]
        assert value == 4
    monkeypatch.setenv("MUTANT_UNDER_TEST", "box.xǁBoxǁdouble__mutmut_1")
    assert cls(3).double != 6  # type: ignore[operator]
    monkeypatch.setenv("MUTANT_UNDER_TEST", "box.x_wrap__mutmut_1")
    assert wrap(abs)(-2) != 3  # type: ignore[operator]


def test_another_mutmut_release_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mutmut_ext, "version", lambda _name: "3.9.0")
    with pytest.raises(SystemExit, match="patches mutmut 3.8.1, found 3.9.0"):
        mutmut_ext.install()
