"""JSON syntax errors in freqtrade's ``-c`` files are ``file:line:col: message`` in ``trader247
validate`` and ``trader247 run`` ([P] item 5), with freqtrade's own parser: what freqtrade
accepts (comments, trailing commas) is never refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trader247.cli import main as cli_main
from trader247.jsonsyntax import json_syntax_problems, position

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, where, message", [
    ('{\n  "a": 1\n  "b": 2\n}\n', (3, 3), "Missing a comma or '}' after an object member."),
    ('{\n  "a": tru\n}\n', (2, 11), "Invalid value."),
    # the 21st character of its line is its 24th byte: columns count characters
    ('{\n  "a": "é€", "b": 1 "c": 2\n}\n', (2, 21), "Missing a comma or '}' after an object"),
    ('{"a": 1', (1, 8), "Missing a comma or '}' after an object member."),
    ("", (1, 1), "The document is empty."),
    ('\ufeff{"a": 1}', (1, 1), "Invalid value."),  # a BOM: freqtrade refuses it too
])
def test_a_syntax_error_is_file_line_column_and_rapidjsons_words(
        tmp_path: Path, text: str, where: tuple[int, int], message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    [problem] = json_syntax_problems([str(path)])
    assert (problem.line, problem.column) == where
    assert problem.format().startswith(f"{path}:{where[0]}:{where[1]}: {message}")


@pytest.mark.parametrize("text", [
    '{\n  // a comment\n  "a": [1, 2,],\n  /* block */ "b": {"c": 1,},\n}\n',
    '{"a": "x"}',
])
def test_what_freqtrade_accepts_is_accepted(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)
    assert json_syntax_problems([str(path)]) == []


def test_bytes_that_are_not_utf8_are_named_at_their_position(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'{\n  "bot_name": "caf\xe9"\n}\n')
    [problem] = json_syntax_problems([str(path)])
    assert problem.format() == f"{path}:2:19: not UTF-8 text (byte 0xe9)"


def test_every_file_is_checked_and_added_files_as_freqtrade_resolves_them(
        tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    main = tmp_path / "config.json"
    main.write_text('{"add_config_files": ["sub/extra.json"]}')
    (tmp_path / "sub" / "extra.json").write_text('{"add_config_files": ["deeper.json"],}')
    (tmp_path / "sub" / "deeper.json").write_text('{\n\n    "x": }')
    other = tmp_path / "other.json"
    other.write_text("{'single': 1}")
    problems = json_syntax_problems([str(main), str(other), "-", str(tmp_path / "missing")])
    assert [p.format() for p in problems] == [
        f"{tmp_path / 'sub' / 'deeper.json'}:3:10: Invalid value.",
        f"{other}:1:2: Missing a name for object member.",
    ]


def test_position_counts_bytes_in_and_characters_out() -> None:
    raw = "ab\n€x".encode()
    assert position(raw, 0) == (1, 1)
    assert position(raw, 3) == (2, 1)
    assert position(raw, 6) == (2, 2)  # after the 3-byte euro sign: 2nd character


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    for name in ("policy.yaml", "universe.yaml"):
        shutil.copy(REPO / "config" / name, tmp_path / name)
    text = (REPO / "config" / "config.json").read_text()
    assert '"max_open_trades": 10,' in text
    path = tmp_path / "config.json"
    path.write_text(text.replace('"max_open_trades": 10,', '"max_open_trades": 10', 1))
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.mark.parametrize("command", [["validate", "-c"], ["run", "--pid-file", "PID", "--",
                                                           "-c"]])
def test_validate_and_run_name_file_line_and_column(
        broken: Path, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(broken.with_name("t.pid")) if a == "PID" else a for a in command]
    assert cli_main([*argv, str(broken)]) == 1
    out = capsys.readouterr()
    line = _line_of(broken, '"stake_currency"')  # rapidjson stops at the next member
    assert (f"❌ {broken}:{line}:5: Missing a comma or '}}' after an object member."
            in out.out.splitlines())
    assert "Parse error at offset" not in out.out + out.err
    assert not broken.with_name("t.pid").exists()  # nothing was started


def test_the_bundled_config_parses() -> None:
    assert json_syntax_problems([str(REPO / "config" / "config.json")]) == []
    json.loads((REPO / "config" / "config.json").read_text())  # and is plain JSON
