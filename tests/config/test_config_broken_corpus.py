"""Every file in ``broken/`` is rejected with the expected ``file:line: key.path: message``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.config.conftest import BROKEN_DIR
from trader247.configfiles import ConfigFileError, load_policy, load_universe

EXPECTED: dict[str, list[str]] = yaml.safe_load(
    (BROKEN_DIR / "expected.yaml").read_text(encoding="utf-8")
)
FILES = sorted(p.name for p in BROKEN_DIR.iterdir() if p.name != "expected.yaml")


def test_corpus_is_large_and_fully_described() -> None:
    assert len(FILES) >= 50
    assert sorted(EXPECTED) == FILES
    assert all(name.startswith(("policy_", "universe_")) for name in FILES)


def _load(path: Path) -> object:
    if path.name.startswith("policy_"):
        return load_policy(path, dry_run=False)  # checked as a live bot would
    return load_universe(path)


@pytest.mark.parametrize("name", FILES)
def test_broken_file_is_rejected_with_the_right_message(name: str) -> None:
    path = BROKEN_DIR / name
    with pytest.raises(ConfigFileError) as info:
        _load(path)
    text = str(info.value)
    assert info.value.errors, text
    for fragment in EXPECTED[name]:
        wanted = f"{path}{fragment}" if fragment.startswith(":") else fragment
        assert wanted in text, f"\n  expected: {wanted}\n  got:\n{text}"
    # One problem per line, each naming the file.
    assert all(line.startswith(str(path)) for line in text.splitlines())
