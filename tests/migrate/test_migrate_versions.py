"""Every version of the original bot's files we could reach migrates with 0 unexplained keys.

The historical versions are kept as key paths only (``fixtures/v2_history/``, README there):
each file is rebuilt from its keys with the newest fixture's values (else the older fixture's,
else ``samples.yaml``), checked to have exactly those keys, and migrated next to the newest
fixture's other two files.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.migrate.conftest import FIXTURES, LATEST, REAL
from trader247.migrate.build import migrate
from trader247.migrate.model import Status

HISTORY = FIXTURES / "v2_history"
FILES = ("policy.yaml", "universe.yaml", "app.yaml")
SAMPLES: dict[str, dict[str, Any]] = yaml.safe_load((HISTORY / "samples.yaml").read_text())
FULL = {name: [yaml.safe_load((base / name).read_text()) for base in (LATEST, REAL)]
        for name in FILES}


def _keys(grouped: dict[str, list[str] | None]) -> list[str]:
    """``{risk: [a, b.c], profile: null}`` -> ``[risk.a, risk.b.c, profile]``."""
    return [head if rest is None else f"{head}.{key}"
            for head, rest in grouped.items() for key in (rest or [None])]


def _versions() -> Iterator[Any]:
    data = yaml.safe_load((HISTORY / "keys.yaml").read_text())
    for name in FILES:
        for version in data[name]:
            yield pytest.param(name, _keys(version["keys"]), id=f"{name}@{version['commit'][:7]}")


VERSIONS = list(_versions())


def _lookup(doc: Any, path: list[str]) -> tuple[bool, Any]:
    for elem in path:
        if not isinstance(doc, dict) or elem not in doc:
            return False, None
        doc = doc[elem]
    return not (isinstance(doc, dict) and doc), doc  # a leaf, not a section


def _value(name: str, key: str) -> Any:
    for doc in FULL[name]:
        found, value = _lookup(doc, key.split("."))
        if found:
            return value
    return SAMPLES[name][key]


def rebuild(name: str, keys: list[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key in keys:
        *parents, last = key.split(".")
        node = doc
        for elem in parents:
            node = node.setdefault(elem, {})
        node[last] = _value(name, key)
    return doc


@pytest.mark.parametrize("name, keys", VERSIONS)
def test_every_key_of_every_reachable_version_is_explained(
    tmp_path: Path, name: str, keys: list[str]
) -> None:
    source = tmp_path / "v2"
    source.mkdir()
    for other in FILES:
        shutil.copy(LATEST / other, source / other)
    (source / name).write_text(yaml.safe_dump(rebuild(name, keys), sort_keys=False))
    result = migrate(source, tmp_path / "out", check_freqtrade=False)
    assert result.ok, result.errors
    rows = [row for row in result.rows if row.leaf.file == name]
    assert sorted(row.leaf.key for row in rows) == sorted(keys)  # the rebuilt file is the version
    assert [row.line() for row in rows if row.status is Status.UNRECOGNISED] == []
    assert all(row.note for row in rows)
    assert result.count(Status.UNRECOGNISED) == 0  # its companions (the newest files) too


def test_history_covers_the_versions_and_samples_only_what_the_fixtures_lack() -> None:
    listed = {name: {key for param in VERSIONS if param.values[0] == name
                     for key in param.values[1]} for name in FILES}
    assert [len([p for p in VERSIONS if p.values[0] == n]) for n in FILES] == [12, 2, 2]
    for name, values in SAMPLES.items():
        for key in values:
            assert key in listed[name], (name, key)
            assert not any(_lookup(doc, key.split("."))[0] for doc in FULL[name]), (name, key)
