"""The README's "Install into your own freqtrade setup" section: its commands and its config are
what the packaging tests run, so the README cannot drift from what is tested."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SECTION = "## Install into your own freqtrade setup"


def readme_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start:end if end > 0 else None]


def fenced(section: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", section, re.MULTILINE | re.DOTALL)


def readme_commands() -> list[list[str]]:
    """The section's shell commands in order, ``pip install`` left to the fixture."""
    commands = []
    for block in fenced(readme_section(), "bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] != "pip":
                commands.append(words)
    return commands


def readme_config() -> str:
    """The section's one ``config.json``."""
    [config] = fenced(readme_section(), "json")
    return config
