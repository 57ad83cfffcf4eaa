"""``python -m trader247.datagen``: summary line, idempotent skip, clear errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trader247.datagen.__main__ import main
from trader247.datagen.settings import DEFAULT_REAL_DIR, MANIFEST

# Full range, but two pairs only: a real one (copied + bridged) and a generated one.
ARGS = ["--pairs", "XRP/USD", "ADA-USD"]


def test_writes_then_skips_then_regenerates_on_a_new_seed(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    assert main(["--out", str(tmp_path), *ARGS]) == 0
    line = capsys.readouterr().out
    assert line.startswith("datagen: generated: 6 files,") and "MB" in line and " s " in line
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([MANIFEST, "README.md", "ADA_USD-15m.feather", "ADA_USD-1h.feather",
                            "ADA_USD-5m.feather", "XRP_USD-1h.feather", "XRP_USD-5m.feather"])
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["key"]["seed"] == 247 and manifest["key"]["variant"] == "real"
    before = (tmp_path / "XRP_USD-1h.feather").stat().st_mtime_ns

    assert main(["--out", str(tmp_path), *ARGS]) == 0
    assert "up to date, skipped: 6 files" in capsys.readouterr().out
    assert (tmp_path / "XRP_USD-1h.feather").stat().st_mtime_ns == before

    (tmp_path / "XRP_USD-5m.feather").unlink()  # a damaged output is regenerated
    assert main(["--out", str(tmp_path), *ARGS]) == 0
    assert "generated" in capsys.readouterr().out

    old = (tmp_path / "XRP_USD-1h.feather").read_bytes()
    assert main(["--out", str(tmp_path), "--seed", "7", *ARGS]) == 0
    assert "generated" in capsys.readouterr().out
    assert (tmp_path / "XRP_USD-1h.feather").read_bytes() != old


def test_a_narrower_run_removes_the_files_it_no_longer_owns(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path), *ARGS]) == 0
    assert main(["--out", str(tmp_path), "--pairs", "XRP/USD", "--timeframes", "1h"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.feather")) == ["XRP_USD-1h.feather"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--pairs", "FOO/USD"], "unknown pair 'FOO/USD'"),
    (["--real-dir", "/nonexistent/real"], "real candles missing: /nonexistent/real/"),
])
def test_bad_input_is_one_clear_message_and_exit_2(tmp_path: Path, argv: list[str],
                                                    message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("datagen: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_unknown_timeframe_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path), "--timeframes", "4h"])
    assert exc.value.code == 2


def test_synthetic_variant_needs_no_real_dir_but_will_not_overwrite_real_data(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    synthetic = ["--variant", "synthetic", "--pairs", "ADA/USD", "--timeframes", "1h"]
    assert main(["--out", str(tmp_path / "s"), "--real-dir", "/nonexistent", *synthetic]) == 0
    assert (tmp_path / "s" / "ADA_USD-1h.feather").read_bytes() != (
        DEFAULT_REAL_DIR / "ADA_USD-1h.feather").read_bytes()

    real = tmp_path / "r"
    assert main(["--out", str(real), "--pairs", "ADA/USD", "--timeframes", "1h"]) == 0
    capsys.readouterr()
    assert main(["--out", str(real), *synthetic]) == 2
    assert "holds the real-candle data set" in capsys.readouterr().err
    assert (real / "ADA_USD-1h.feather").read_bytes() == (
        DEFAULT_REAL_DIR / "ADA_USD-1h.feather").read_bytes()
