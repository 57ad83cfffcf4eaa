"""Fixtures of the config tests: the committed files and a YAML writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "config"
POLICY = CONFIG_DIR / "policy.yaml"
UNIVERSE = CONFIG_DIR / "universe.yaml"
SCHEMA_DIR = CONFIG_DIR / "schema"
BROKEN_DIR = Path(__file__).resolve().parent / "broken"


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, Any], Path]:
    """``write("policy.yaml", {...} or "text" or b"bytes")`` -> path of the new file."""

    def _write(name: str, content: Any) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            text = content if isinstance(content, str) else dump(content)
            path.write_text(text, encoding="utf-8")
        return path

    return _write
