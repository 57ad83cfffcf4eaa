"""JSON syntax errors of freqtrade's ``-c`` files as ``file:line:col: message``.

freqtrade's loader reports a syntax error as ``Parse error at offset 124: Missing a comma or
'}' after an object member.`` plus a snippet, and for the first file that fails only. Before
freqtrade loads them, ``trader247 validate`` and ``trader247 run`` parse every ``-c`` file (and
the ``add_config_files`` each names, resolved and nested as freqtrade does) here.

Decisions:
- The parser is freqtrade's own: python-rapidjson with freqtrade's ``CONFIG_PARSE_MODE``
  (comments and trailing commas allowed). A file freqtrade accepts is never refused here, and
  the message is rapidjson's own words; only the offset is turned into a position.
- rapidjson's offset counts UTF-8 bytes (measured: ``"é€"`` before the error moves it by 3);
  the column counts characters, 1-based, as editors do.
- A file is read as freqtrade reads it (UTF-8, no BOM stripping): a BOM is freqtrade's
  ``Invalid value`` at 1:1, and bytes that are not UTF-8 are reported at their position.
- Missing or unreadable files and ``-`` (stdin) are left to freqtrade's loader, which names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from trader247.core.config import Problem

MAX_LEVEL: Final = 5  # freqtrade's load_from_files: deeper is its "Config loop detected."


def json_syntax_problems(config_files: Sequence[str]) -> list[Problem]:
    """One problem per ``-c`` file (or file it adds) that freqtrade could not parse."""
    problems: list[Problem] = []
    for name in config_files:
        if name != "-":
            _check(Path(name), name, 0, problems)
    return problems


def _check(path: Path, shown: str, level: int, problems: list[Problem]) -> None:
    try:
        raw = path.read_bytes()
    except OSError:
        return
    parsed = parse(raw, shown, problems)
    if level >= MAX_LEVEL or not isinstance(parsed, dict):
        return
    added = parsed.get("add_config_files")
    if isinstance(added, list):
        base = path.resolve().parent
        for sub in added:
            if isinstance(sub, str):
                _check(base / sub, str(base / sub), level + 1, problems)


def parse(raw: bytes, shown: str, problems: list[Problem]) -> Any:
    """``raw`` parsed as freqtrade parses a config file; on a syntax error, a problem naming
    ``shown`` with line and column is appended and ``None`` returned."""
    import rapidjson
    from freqtrade.configuration.load_config import CONFIG_PARSE_MODE

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = position(raw, exc.start)
        problems.append(Problem(shown, (), f"not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                                line=line, column=column))
        return None
    try:
        return rapidjson.loads(text, parse_mode=CONFIG_PARSE_MODE)
    except rapidjson.JSONDecodeError as exc:
        offset, message = _offset_and_message(str(exc))
        line, column = position(raw, offset)
        problems.append(Problem(shown, (), message, line=line, column=column))
        return None


def _offset_and_message(error: str) -> tuple[int, str]:
    """``Parse error at offset 124: Missing a comma ...`` -> ``(124, "Missing a comma ...")``."""
    head, _, message = error.partition(": ")
    digits = head.rsplit(" ", 1)[-1]
    if head.startswith("Parse error at offset") and digits.isdigit():
        return int(digits), message
    return 0, error


def position(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and character column of byte ``offset`` of UTF-8 ``raw``."""
    before = raw[:offset].decode("utf-8", errors="replace")
    line_start = before.rfind("\n") + 1
    return before.count("\n") + 1, len(before) - line_start + 1
