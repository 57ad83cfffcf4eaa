"""Each plugin's class carries the name code spells from ``trader247.core.plugin_names``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from trader247.core import plugin_names
from trader247.core.plugin_names import PAIRLIST, PLUGIN_FILES, PROTECTION, STRATEGY

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", [PAIRLIST, PROTECTION, STRATEGY])
def test_the_plugin_file_defines_a_class_of_that_name(name: str) -> None:
    # Freqtrade's resolvers look a plugin up by class name in <Name>.py: a renamed class or file
    # breaks "method": <Name> although every import still works.
    path = REPO / PLUGIN_FILES[name]
    assert path.name == f"{name}.py"
    classes = [n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)]
    assert classes == [name]


def test_every_name_has_a_file() -> None:
    names = {v for k, v in vars(plugin_names).items() if k.isupper() and isinstance(v, str)}
    assert names == set(PLUGIN_FILES) == {PAIRLIST, PROTECTION, STRATEGY}
