"""``trader247 --help`` lists every subcommand (a ``%`` in a help text used to crash it)."""

from __future__ import annotations

import pytest

from trader247.cli import _commands, main


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in _commands():
        assert f"    {name}" in out, name
    assert "at-risk % per candle" in out
